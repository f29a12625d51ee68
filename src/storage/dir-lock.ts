import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

/**
 * The storage-directory lock: one daemon per storage directory. A file `<dir>/tavern.lock` (0600) holding the owner's
 * pid, host, boot id and process start time, created atomically (link of a fully written temp file). A lock whose
 * owner is gone (kill -9, reboot, pid reused) is stale and taken over; a live owner makes open() fail with
 * StorageLockedError. Other processes of the same daemon open the store without the lock (Storage lock: false).
 *
 * Liveness: on the same host, the pid must exist with the same start time (Linux /proc) and the same boot; from
 * another host (a shared volume), the owner refreshes the file's mtime every HEARTBEAT_MS and a lock not refreshed
 * for STALE_AFTER_MS is stale.
 */
export const LOCK_FILE = 'tavern.lock'
export const HEARTBEAT_MS = 30_000
const STALE_AFTER_MS = 3 * HEARTBEAT_MS

export interface LockOwner {
  pid: number
  host: string
  bootId?: string
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22), when known. */
  startTicks?: string
  startedAt: string
}

/** Another live process holds the storage directory. */
export class StorageLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly owner: LockOwner,
    message: string,
  ) {
    super(message)
  }
}

/** Locks held by this process (a second Storage on the same directory in one process is refused too). */
const held = new Set<string>()

function readProc(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8')
  } catch {
    return undefined
  }
}

function bootId(): string | undefined {
  return readProc('/proc/sys/kernel/random/boot_id')?.trim() || undefined
}

function startTicks(pid: number): string | undefined {
  const stat = readProc(`/proc/${pid}/stat`)
  if (!stat) return undefined
  // Field 2 (comm) is parenthesised and may hold spaces: count from after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return rest[19]
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>
    if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid <= 0 || typeof o.host !== 'string') return undefined
    return {pid: o.pid, host: o.host, bootId: o.bootId, startTicks: o.startTicks, startedAt: String(o.startedAt ?? '?')}
  } catch {
    return undefined
  }
}

/** Why a lock is stale, or undefined when its owner may be alive. */
function staleReason(owner: LockOwner | undefined, mtimeMs: number): string | undefined {
  if (!owner) return 'unreadable lock file'
  if (owner.host !== os.hostname()) return Date.now() - mtimeMs > STALE_AFTER_MS ? `not refreshed for ${Math.round((Date.now() - mtimeMs) / 1000)} s` : undefined
  const boot = bootId()
  if (owner.bootId && boot && owner.bootId !== boot) return 'left before a reboot'
  if (owner.pid === process.pid) return 'left by an earlier process with this pid'
  try {
    process.kill(owner.pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return 'its process is gone'
    // EPERM: the process exists (another user)
  }
  const ticks = startTicks(owner.pid)
  if (owner.startTicks && ticks && owner.startTicks !== ticks) return 'its pid now belongs to another process'
  return undefined
}

function describe(dir: string, o: LockOwner): string {
  const where = o.host !== os.hostname() ? ` on host ${o.host}` : ''
  return `storage directory ${dir} is in use by another tavern (pid ${o.pid}${where}, since ${o.startedAt}); stop it or use another storage directory`
}

export interface LockLog {
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

const WRITING_GRACE_MS = 2000
const LEFTOVER_AGE_MS = 60_000

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/**
 * Create the lock file atomically with its content: a hard link of the fully written candidate (a reader never sees
 * it empty). On file systems without hard links, an exclusive create then a write. False when a lock exists.
 */
function createLock(candidate: string, lockPath: string, content: string): boolean {
  try {
    fs.linkSync(candidate, lockPath)
    return true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error
  }
  let fd: number
  try {
    fd = fs.openSync(lockPath, 'wx', 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
  try {
    fs.writeSync(fd, content)
  } finally {
    fs.closeSync(fd)
  }
  return true
}

/** Put back a live lock that a takeover moved aside by mistake (unless a third starter holds the name now). */
function restoreLock(aside: string, lockPath: string): void {
  try {
    fs.linkSync(aside, lockPath)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') return
    if (!fs.existsSync(lockPath)) fs.renameSync(aside, lockPath)
  }
}

/** Candidate and moved-aside lock files left by a starter that died while taking the lock (old ones only). */
function removeLeftovers(dir: string): void {
  try {
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith(`${LOCK_FILE}.`)) continue
      const p = path.join(dir, name)
      try {
        if (Date.now() - fs.statSync(p).mtimeMs > LEFTOVER_AGE_MS) fs.rmSync(p, {force: true})
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // best effort: leftovers are harmless
  }
}

export class DirLock {
  private released = false

  private constructor(
    readonly path: string,
    private readonly content: string,
    private readonly log?: LockLog,
  ) {}

  /** Take the lock of `dir` (which exists), or throw StorageLockedError. Synchronous: it runs once at open. */
  static acquire(dir: string, log?: LockLog): DirLock {
    const lockPath = path.join(dir, LOCK_FILE)
    const self: LockOwner = {pid: process.pid, host: os.hostname(), bootId: bootId(), startTicks: startTicks(process.pid), startedAt: new Date().toISOString()}
    if (held.has(lockPath)) throw new StorageLockedError(dir, self, `storage directory ${dir} is already open in this process (pid ${process.pid})`)
    const content = JSON.stringify(self) + '\n'
    const tmp = `${lockPath}.${process.pid}.${randomBytes(6).toString('hex')}`
    fs.writeFileSync(tmp, content, {mode: 0o600, flag: 'wx'})
    try {
      for (let attempt = 0; attempt < 20; attempt++) {
        if (createLock(tmp, lockPath, content)) {
          held.add(lockPath)
          removeLeftovers(dir)
          return new DirLock(lockPath, content, log)
        }
        let text: string
        let mtimeMs: number
        try {
          text = fs.readFileSync(lockPath, 'utf8')
          mtimeMs = fs.statSync(lockPath).mtimeMs
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
          throw error
        }
        const owner = parseOwner(text)
        // Only the no-hard-link fallback creates the file before writing it: a fresh unreadable one is being written.
        if (!owner && Date.now() - mtimeMs < WRITING_GRACE_MS) {
          sleepSync(50)
          continue
        }
        const reason = staleReason(owner, mtimeMs)
        if (reason === undefined) throw new StorageLockedError(dir, owner!, describe(dir, owner!))
        // Take the stale lock over: move it aside, and check that what moved is the lock judged stale (another
        // starter may have replaced it meanwhile; then its lock goes back).
        const aside = `${lockPath}.stale.${randomBytes(6).toString('hex')}`
        try {
          fs.renameSync(lockPath, aside)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
          throw error
        }
        const moved = fs.readFileSync(aside, 'utf8')
        if (moved !== text) restoreLock(aside, lockPath)
        else {
          log?.warn({dir, stalePid: owner?.pid, staleHost: owner?.host, reason}, 'storage: took over a stale storage-directory lock')
        }
        fs.rmSync(aside, {force: true})
      }
      throw new Error(`could not take the lock of storage directory ${dir} (${lockPath} keeps changing)`)
    } finally {
      fs.rmSync(tmp, {force: true})
    }
  }

  /** Refresh the lock's mtime (seen by starters on other hosts); warns when the file is no longer ours. */
  async heartbeat(): Promise<void> {
    if (this.released) return
    let text: string | undefined
    try {
      text = await fsp.readFile(this.path, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
    if (text !== this.content) {
      this.log?.error({lock: this.path}, 'storage: the storage-directory lock file was removed or replaced by another process')
      return
    }
    const now = new Date()
    await fsp.utimes(this.path, now, now)
  }

  /** Remove the lock file if it is still ours. */
  release(): void {
    if (this.released) return
    this.released = true
    held.delete(this.path)
    try {
      if (fs.readFileSync(this.path, 'utf8') === this.content) fs.unlinkSync(this.path)
    } catch {
      // gone already: nothing to release
    }
  }
}
