import fsp from 'node:fs/promises'
import path from 'node:path'

/**
 * Reclaims body files no index record references: left by a crash between a fill's rename into `objects/` and its
 * index commit, or between a removal's commit and the file's deletion, or by an index of an older format.
 *
 * Safe against live fills: a fill renames its body in (which sets the file's ctime) before it commits, so only files
 * whose mtime and ctime are both before `olderThan` are candidates, and `olderThan` is before this process opened the
 * store (fills of this daemon come later). Bounded: walks `objects/xx/yy/` one directory at a time with a streaming
 * directory reader, yields to the event loop every `batch` entries, and keeps nothing but the current directory handle.
 */
export interface OrphanSweepOptions {
  objectsDir: string
  /** Whether a relative body file name (`xx/yy/name`) belongs to an index record. */
  isReferenced(file: string): boolean
  /** ms epoch: files changed at or after this are left alone. */
  olderThan: number
  /** Stop early (storage closing). */
  shouldStop(): boolean
  /** Entries looked at between two yields to the event loop. */
  batch?: number
}

export interface OrphanSweepResult {
  /** Files looked at. */
  scanned: number
  /** Orphan files deleted, and their apparent sizes. */
  files: number
  bytes: number
  /** The walk stopped early (storage closing). */
  stopped: boolean
}

const FAN_OUT = /^[0-9a-f]{2}$/
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

async function listDirs(dir: string): Promise<string[]> {
  try {
    const entries = await fsp.readdir(dir, {withFileTypes: true})
    // At most 256 fan-out names per level: small enough to hold.
    return entries.filter((e) => e.isDirectory() && FAN_OUT.test(e.name)).map((e) => e.name).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

export async function sweepOrphans(o: OrphanSweepOptions): Promise<OrphanSweepResult> {
  const batch = o.batch ?? 256
  const r: OrphanSweepResult = {scanned: 0, files: 0, bytes: 0, stopped: false}
  let sinceYield = 0
  for (const a of await listDirs(o.objectsDir)) {
    for (const b of await listDirs(path.join(o.objectsDir, a))) {
      const leaf = path.join(o.objectsDir, a, b)
      let dir
      try {
        dir = await fsp.opendir(leaf, {bufferSize: 64})
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
        throw err
      }
      for await (const e of dir) {
        if (++sinceYield >= batch) {
          sinceYield = 0
          await yieldToLoop()
        }
        if (o.shouldStop()) {
          r.stopped = true
          return r // leaving the for-await closes the directory
        }
        if (!e.isFile()) continue
        r.scanned++
        const file = `${a}/${b}/${e.name}`
        if (o.isReferenced(file)) continue
        const p = path.join(leaf, e.name)
        let st
        try {
          st = await fsp.lstat(p)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
          throw err
        }
        if (Math.max(st.mtimeMs, st.ctimeMs) >= o.olderThan || o.isReferenced(file)) continue
        try {
          await fsp.unlink(p)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
          throw err
        }
        r.files++
        r.bytes += st.size
      }
    }
  }
  return r
}
