import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'

/** Cached content is private to the daemon's user: directories 0700, files 0600, whatever the umask. */
export const DIR_MODE = 0o700
export const FILE_MODE = 0o600

/**
 * Unique names without crypto per fill: a random tag drawn once per process (several processes may share the
 * directory) plus a counter. Body file names also carry the time, so a name is never reused across restarts.
 */
const PROC_TAG = randomBytes(4).toString('hex')
let nameCounter = 0

/** Whether mkdir(mode) yields exactly `mode` under this process's umask (then no chmod is needed after it). */
function umaskKeeps(mode: number): boolean {
  try {
    return (mode & ~process.umask()) === mode
  } catch {
    return false // a worker thread cannot read the umask: chmod every directory made
  }
}

/** Layout of body files and temp files under the storage root. */
export class BodyFiles {
  readonly objectsDir: string
  readonly tmpDir: string
  readonly indexDir: string
  private readonly madeDirs = new Set<string>()
  /** mkdir's mode is not masked by the umask here: no chmod after it. */
  private readonly dirModeExact = umaskKeeps(DIR_MODE)

  constructor(readonly root: string) {
    this.objectsDir = path.join(root, 'objects')
    this.tmpDir = path.join(root, 'tmp')
    this.indexDir = path.join(root, 'index')
  }

  /**
   * Sync, for open(): create the root (0700) if missing. Returns whether an existing root is open to other users
   * (the caller warns: the operator chose that mode, so it is not changed).
   */
  prepareRootSync(): {exposed: boolean} {
    const created = fs.mkdirSync(this.root, {recursive: true, mode: DIR_MODE})
    if (created !== undefined) {
      // mkdir's mode is masked by the umask: set it outright on everything we created.
      for (let d = this.root; ; d = path.dirname(d)) {
        fs.chmodSync(d, DIR_MODE)
        if (d === created || path.dirname(d) === d) break
      }
      return {exposed: false}
    }
    return {exposed: (fs.statSync(this.root).mode & 0o077) !== 0}
  }

  /**
   * Sync, for open(): create the sub-directories (0700; existing ones are ours and tightened too) and, when `sweepTemp`
   * (the process owning the directory), delete every orphan temp file. Returns how many were removed.
   */
  prepareSync(sweepTemp: boolean): number {
    for (const d of [this.objectsDir, this.tmpDir, this.indexDir]) {
      fs.mkdirSync(d, {recursive: true, mode: DIR_MODE})
      fs.chmodSync(d, DIR_MODE)
    }
    // The 256 first-level fan-out directories, once: a fill then makes at most its leaf directory (once per process).
    const have = new Set(fs.readdirSync(this.objectsDir))
    for (let i = 0; i < 256; i++) {
      const name = i.toString(16).padStart(2, '0')
      if (have.has(name)) continue
      const d = path.join(this.objectsDir, name)
      fs.mkdirSync(d, {mode: DIR_MODE})
      if (!this.dirModeExact) fs.chmodSync(d, DIR_MODE)
    }
    if (!sweepTemp) return 0
    let n = 0
    for (const name of fs.readdirSync(this.tmpDir)) {
      fs.rmSync(path.join(this.tmpDir, name), {recursive: true, force: true})
      n++
    }
    return n
  }

  newTempPath(): string {
    return path.join(this.tmpDir, `${PROC_TAG}-${(nameCounter++).toString(36)}`)
  }

  static uniqueSuffix(): string {
    return `${Date.now().toString(36)}${PROC_TAG}${(nameCounter++).toString(36)}`
  }

  pathOf(file: string): string {
    return path.join(this.objectsDir, file)
  }

  /** Create the fan-out directories of a relative body file name (0700), once per process. */
  async ensureDirOf(file: string): Promise<void> {
    const dir = path.dirname(this.pathOf(file))
    if (this.madeDirs.has(dir)) return
    await ensureDir(dir, this.objectsDir, this.dirModeExact)
    this.madeDirs.add(dir)
  }

  /** Move a finished temp file to its final relative name (creating the fan-out directories once). */
  async install(tmpPath: string, file: string): Promise<void> {
    const dest = this.pathOf(file)
    await this.ensureDirOf(file)
    try {
      await fsp.rename(tmpPath, dest)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      // The directory may have been removed behind our back: recreate once and retry.
      await ensureDir(path.dirname(dest), this.objectsDir, this.dirModeExact)
      await fsp.rename(tmpPath, dest)
    }
  }

  /** Create an empty body file (0600) for a partial object; its directories are made as needed. */
  async createEmpty(file: string): Promise<string> {
    await this.ensureDirOf(file)
    const p = this.pathOf(file)
    const fh = await fsp.open(p, 'wx', FILE_MODE)
    await fh.close()
    return p
  }

  /** Delete a body file; a missing file is fine. */
  async remove(file: string): Promise<void> {
    await unlinkQuiet(this.pathOf(file))
  }
}

/**
 * mkdir -p with mode DIR_MODE on every directory created below `base` (set outright with chmod unless `exact`:
 * mkdir's mode is then known not to be masked by the umask).
 */
async function ensureDir(dir: string, base: string, exact: boolean): Promise<void> {
  try {
    await fsp.mkdir(dir, {mode: DIR_MODE})
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return
    if (code !== 'ENOENT' || dir === base || path.dirname(dir) === dir) throw err
    await ensureDir(path.dirname(dir), base, exact)
    try {
      await fsp.mkdir(dir, {mode: DIR_MODE})
    } catch (err2) {
      if ((err2 as NodeJS.ErrnoException).code === 'EEXIST') return
      throw err2
    }
  }
  if (!exact) await fsp.chmod(dir, DIR_MODE)
}

export async function unlinkQuiet(p: string): Promise<void> {
  try {
    await fsp.unlink(p)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
