import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'

/** Layout of body files and temp files under the storage root. */
export class BodyFiles {
  readonly objectsDir: string
  readonly tmpDir: string
  private readonly madeDirs = new Set<string>()

  constructor(readonly root: string) {
    this.objectsDir = path.join(root, 'objects')
    this.tmpDir = path.join(root, 'tmp')
  }

  /** Sync, for open(): create the directories and delete every orphan temp file. Returns how many were removed. */
  prepareSync(): number {
    fs.mkdirSync(this.objectsDir, {recursive: true})
    fs.mkdirSync(this.tmpDir, {recursive: true})
    let n = 0
    for (const name of fs.readdirSync(this.tmpDir)) {
      fs.rmSync(path.join(this.tmpDir, name), {recursive: true, force: true})
      n++
    }
    return n
  }

  newTempPath(): string {
    return path.join(this.tmpDir, randomBytes(12).toString('hex'))
  }

  static uniqueSuffix(): string {
    return Date.now().toString(36) + randomBytes(5).toString('hex')
  }

  pathOf(file: string): string {
    return path.join(this.objectsDir, file)
  }

  /** Move a finished temp file to its final relative name (creating the fan-out directories once). */
  async install(tmpPath: string, file: string): Promise<void> {
    const dest = this.pathOf(file)
    const dir = path.dirname(dest)
    if (!this.madeDirs.has(dir)) {
      await fsp.mkdir(dir, {recursive: true})
      this.madeDirs.add(dir)
    }
    try {
      await fsp.rename(tmpPath, dest)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      // The directory may have been removed behind our back: recreate once and retry.
      await fsp.mkdir(dir, {recursive: true})
      await fsp.rename(tmpPath, dest)
    }
  }

  /** Delete a body file; a missing file is fine. */
  async remove(file: string): Promise<void> {
    await unlinkQuiet(this.pathOf(file))
  }
}

export async function unlinkQuiet(p: string): Promise<void> {
  try {
    await fsp.unlink(p)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
