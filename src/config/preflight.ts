import {randomBytes} from 'node:crypto'
import {constants, type Stats} from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'

import {privateDirProblem} from '../admin/socket-guard.js'
import {dashboardPreflight} from '../dashboard/preflight.js'
import {ConfigError, type LoadedConfig} from './load.js'
import type {TavernConfig} from './schema.js'
import {parseHostPort} from './sizes.js'
import {usesDefaultGroup} from './sites.js'
import {tlsPreflight} from './tls-preflight.js'

/** Longest Unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH_BYTES = 107
/** What Storage.open creates under storage.dir, in this order after the lock file. */
const STORAGE_SUBDIRS = ['objects', 'tmp', 'index'] as const
/** LMDB's files: opened read-write (and made 0600) by the daemon. */
const INDEX_FILES = ['data.mdb', 'lock.mdb'] as const

export interface PreflightOptions {
  /** The admin socket serve would listen on (resolved as serve does) and whether it is the default path. */
  socket?: {path: string; isDefault: boolean}
  /** The user the daemon runs as (default: this process's). */
  uid?: number
  /** Relative certificate and token paths resolve from here (the config file's directory; default: the working directory). */
  baseDir?: string
}

/** `EACCES (permission denied)` from an fs error, for messages that already name the path. */
function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException
  const m = /^[A-Z0-9_]+: ([^,]+)/.exec(e.message ?? '')
  return e.code ? `${e.code}${m ? ` (${m[1]})` : ''}` : String(e.message ?? error)
}

async function statOrUndefined(p: string, lstat = false): Promise<Stats | undefined> {
  try {
    return lstat ? await fs.lstat(p) : await fs.stat(p)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw error
  }
}

/** The deepest existing ancestor of `p` (p itself when it exists). */
async function nearestExisting(p: string): Promise<{dir: string; st: Stats}> {
  for (let d = path.resolve(p); ; d = path.dirname(d)) {
    const st = await statOrUndefined(d)
    if (st || path.dirname(d) === d) return {dir: d, st: st ?? (await fs.stat(d))}
  }
}

/**
 * Whether this process can create an entry in `dir`: made and removed at once under a name nothing else uses, so the
 * check cannot be fooled by permission bits (root, read-only mounts, /proc) and leaves nothing behind.
 */
async function probeCreate(dir: string, kind: 'dir' | 'file'): Promise<unknown> {
  const probe = path.join(dir, `.tavern-check-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    if (kind === 'dir') {
      await fs.mkdir(probe, {mode: 0o700})
      await fs.rmdir(probe)
    } else {
      const fh = await fs.open(probe, 'wx', 0o600)
      await fh.close()
      await fs.unlink(probe)
    }
    return undefined
  } catch (error) {
    await fs.rm(probe, {force: true, recursive: true}).catch(() => {})
    return error
  }
}

/** A missing path: can its directories be created? (The first problem, or undefined.) */
async function creatable(target: string, kind: 'dir' | 'file'): Promise<string | undefined> {
  const {dir, st} = await nearestExisting(path.dirname(target))
  if (!st.isDirectory()) return `${dir} is not a directory`
  const error = await probeCreate(dir, dir === path.dirname(target) ? kind : 'dir')
  return error ? reason(error) : undefined
}

/** storage.dir: creatable, or an existing directory whose parts the daemon's user can write (nothing is created). */
async function checkStorage(dir: string, uid: number): Promise<string[]> {
  const st = await statOrUndefined(dir)
  if (!st) {
    const why = await creatable(dir, 'dir')
    return why ? [`storage.dir: cannot create ${dir}: ${why}`] : []
  }
  if (!st.isDirectory()) return [`storage.dir: ${dir} is not a directory`]
  const problems: string[] = []
  const missing: string[] = []
  const owned = async (p: string, s: Stats) => {
    // The daemon sets 0700/0600 on its own files: chmod needs the owner (or root).
    if (uid !== 0 && s.uid !== uid) problems.push(`storage.dir: ${p} belongs to uid ${s.uid}, but the daemon runs as uid ${uid} (chown -R the storage directory to that user)`)
    else {
      try {
        await fs.access(p, constants.R_OK | constants.W_OK | (s.isDirectory() ? constants.X_OK : 0))
      } catch (error) {
        problems.push(`storage.dir: cannot write ${p}: ${reason(error)}`)
      }
    }
  }
  for (const sub of STORAGE_SUBDIRS) {
    const p = path.join(dir, sub)
    const s = await statOrUndefined(p)
    if (!s) missing.push(p)
    else if (!s.isDirectory()) problems.push(`storage.dir: ${p} is not a directory`)
    else await owned(p, s)
  }
  for (const f of INDEX_FILES) {
    const p = path.join(dir, 'index', f)
    const s = await statOrUndefined(p)
    if (s) await owned(p, s)
  }
  // The lock file (and any missing sub-directory) is created in the directory itself, at every start.
  const error = await probeCreate(dir, missing.length ? 'dir' : 'file')
  if (error) problems.unshift(`storage.dir: cannot create ${missing[0] ?? path.join(dir, 'tavern.lock')}: ${reason(error)}`)
  return problems
}

/** accessLog.path: an existing file must open for appending; a missing one is created by the daemon, in a directory that exists. */
async function checkAccessLog(file: string): Promise<string[]> {
  const st = await statOrUndefined(file)
  if (st) {
    if (st.isDirectory()) return [`accessLog.path: ${file} is a directory`]
    // A FIFO would block the open until a reader comes; the daemon copes, a check must not hang.
    if (st.isFIFO()) return []
    try {
      const fh = await fs.open(file, constants.O_WRONLY | constants.O_APPEND)
      await fh.close()
      return []
    } catch (error) {
      return [`accessLog.path: cannot open ${file} for appending: ${reason(error)}`]
    }
  }
  const dir = path.dirname(file)
  const ds = await statOrUndefined(dir)
  if (!ds) return [`accessLog.path: the directory ${dir} does not exist (the access log does not create directories)`]
  if (!ds.isDirectory()) return [`accessLog.path: ${dir} is not a directory`]
  const error = await probeCreate(dir, 'file')
  return error ? [`accessLog.path: cannot create ${file}: ${reason(error)}`] : []
}

/** The admin socket: a path bind() accepts, nothing else in its place, and a directory serve may use or create. */
async function checkSocket(socket: {path: string; isDefault: boolean}, uid: number): Promise<string[]> {
  const p = socket.path
  const bytes = Buffer.byteLength(p)
  if (bytes > MAX_SOCKET_PATH_BYTES) return [`socket: ${p} is too long for a Unix socket (${bytes} bytes; at most ${MAX_SOCKET_PATH_BYTES})`]
  const st = await statOrUndefined(p, true)
  if (st && !st.isSocket()) return [`socket: ${p} exists and is not a socket; serve refuses to replace it`]
  const dir = path.dirname(p)
  const ds = await statOrUndefined(dir, true)
  if (ds && socket.isDefault) {
    const problem = privateDirProblem(ds, dir, uid)
    return problem ? [`socket: ${problem}`] : []
  }
  if (ds) {
    if (!ds.isDirectory()) return [`socket: ${dir} is not a directory`]
    const error = await probeCreate(dir, 'file')
    return error ? [`socket: cannot create ${p}: ${reason(error)}`] : []
  }
  const why = await creatable(dir, 'dir')
  return why ? [`socket: cannot create ${dir}: ${why}`] : []
}

const WILDCARD = new Set(['0.0.0.0', '::', '[::]', '*'])

/** Two of the data-plane listeners, metrics.listen and admin.listen on one port: the second bind would fail. */
function checkPorts(c: TavernConfig): string[] {
  const others = [
    ['metrics.listen', c.metrics.listen],
    ['admin.listen', c.admin.listen],
  ].filter((o): o is [string, string] => o[1] !== undefined)
  const out: string[] = []
  for (const [key, value] of others) {
    const b = parseHostPort(value)
    for (const l of c.listen) {
      if (!b || l.port === 0 || l.port !== b.port) continue
      if (l.host !== b.host && !WILDCARD.has(l.host) && !WILDCARD.has(b.host)) continue
      out.push(`${key}: ${value} is the same port as listen (${l.address}); give the ${key === 'admin.listen' ? 'admin' : 'metrics'} listener a port of its own`)
    }
  }
  return out
}

/**
 * Every check `serve` makes before it binds a port or opens the store, made without creating or changing anything (a
 * probe entry is made and removed at once): upstreams present, storage.dir usable, the access log openable, the admin
 * socket path usable, no two listeners on one port. Each problem names its key. Run it as the daemon's user: file
 * permissions are checked for whoever runs it. Not checked, on purpose: whether another daemon holds the storage
 * lock or the socket (`config check` next to a running daemon, before a reload, must pass).
 */
export async function preflight(config: TavernConfig, opts: PreflightOptions = {}): Promise<string[]> {
  const uid = opts.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 0)
  const problems: string[] = []
  // A path that cannot even be looked at (EACCES on a parent, ELOOP…) is a problem to report, not a crash.
  const check = async (key: string, target: string, run: () => Promise<string[]>) => {
    try {
      problems.push(...(await run()))
    } catch (error) {
      problems.push(`${key}: cannot check ${target}: ${reason(error)}`)
    }
  }
  // With sites, the top-level upstreams (the default group) are needed only when a site or route uses them.
  if (config.upstreams.length === 0 && usesDefaultGroup(config)) problems.push('upstreams: no upstream configured: pass --upstream URL or set "upstreams" in the config')
  await check('storage.dir', config.storage.dir, () => checkStorage(config.storage.dir, uid))
  const log = config.accessLog.path
  if (config.accessLog.enabled && log !== 'stdout') await check('accessLog.path', log, () => checkAccessLog(log))
  const socket = opts.socket
  if (socket) await check('socket', socket.path, () => checkSocket(socket, uid))
  problems.push(...checkPorts(config))
  problems.push(...(await dashboardPreflight(config)))
  problems.push(...(await tlsPreflight(config, opts.baseDir)))
  return problems
}

/**
 * A config that validates but cannot start here (no upstream, an unusable storage directory, …). A ConfigError, so
 * exit 2 like any config problem: restarting cannot help until the config or the paths it names change (a supervisor
 * may stop retrying: systemd's RestartPreventExitStatus=2). What only start-up can find (a port or the storage lock
 * taken by another process) stays exit 1.
 */
export class StartCheckError extends ConfigError {
  constructor(source: string, problems: string[]) {
    super(source, problems)
    this.message = `cannot start with this config (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`
  }
}

/** preflight() as one StartCheckError naming the config's source (what serve and `config check` print, exit 2). */
export async function assertStartable(loaded: LoadedConfig, opts: PreflightOptions = {}): Promise<void> {
  const problems = await preflight(loaded.config, {baseDir: loaded.filepath ? path.dirname(loaded.filepath) : undefined, ...opts})
  if (problems.length) throw new StartCheckError(loaded.filepath ?? 'embedded defaults + flags', problems)
}
