import type {Stats} from 'node:fs'
import fs from 'node:fs/promises'
import type {Server} from 'node:http'
import net from 'node:net'
import path from 'node:path'

/** Another daemon owns the admin socket. */
export class SocketInUseError extends Error {}

/** The default socket's directory exists but is not ours alone: someone may have prepared it to take our socket. */
export class SocketDirError extends Error {}

function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0
}

/**
 * Why an existing directory cannot hold the default socket, or undefined when it can: it must be a real directory (not
 * a symlink) that `uid` owns and nobody else can write to. Pure, so `config check` applies the same rule.
 */
export function privateDirProblem(st: Stats, dir: string, uid: number): string | undefined {
  const fix = `remove it (or use --socket / TAVERN_SOCKET for another path)`
  if (!st.isDirectory()) return `socket directory ${dir} exists and is not a directory${st.isSymbolicLink() ? ' (a symlink)' : ''}; refusing to use it: ${fix}`
  if (st.uid !== uid) return `socket directory ${dir} belongs to uid ${st.uid}, not to us (uid ${uid}); refusing to use it: ${fix}`
  if ((st.mode & 0o022) !== 0) return `socket directory ${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}); refusing to use it: chmod 700 it, or ${fix}`
  return undefined
}

/**
 * The default socket's directory (`/run/tavern`, `/tmp/tavern-<uid>`): created 0700, or, when it exists, accepted only
 * if it is a real directory (not a symlink) that we own and nobody else can write to. Anything else is refused with a
 * message saying what to do: in a shared /tmp another user could have created it first (tmux does the same check).
 */
export async function ensurePrivateDir(dir: string, uid: number = currentUid()): Promise<void> {
  try {
    await fs.mkdir(dir, {mode: 0o700})
    return
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  const problem = privateDirProblem(await fs.lstat(dir), dir, uid)
  if (problem) throw new SocketDirError(problem)
}

/**
 * Make `socketPath` free to listen on: a socket left by a crashed daemon (nobody accepts on it) is removed;
 * a live one means another daemon runs, and we refuse rather than steal it. With `privateDir` (the default socket
 * path) the directory must be ours alone; otherwise missing directories are created owner-only.
 */
export async function claimSocketPath(socketPath: string, opts: {privateDir?: boolean} = {}): Promise<void> {
  if (opts.privateDir) await ensurePrivateDir(path.dirname(socketPath))
  else await fs.mkdir(path.dirname(socketPath), {recursive: true, mode: 0o700})
  let st
  try {
    st = await fs.lstat(socketPath)
  } catch {
    return // nothing there
  }
  if (!st.isSocket()) throw new SocketInUseError(`${socketPath} exists and is not a socket; refusing to replace it`)
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(socketPath)
    c.once('connect', () => {
      c.destroy()
      resolve(true)
    })
    c.once('error', () => resolve(false))
  })
  if (live) throw new SocketInUseError(`another tavern daemon is running on ${socketPath} (stop it first, or use --socket)`)
  await fs.unlink(socketPath)
}

/**
 * Listen on a Unix socket that is 0600 from the moment it exists: bind() creates it with 0777 & ~umask, so the umask
 * is 0177 around the (synchronous) bind; a chmod afterwards would leave a window in which anyone could connect.
 */
export async function listenOwnerOnly(server: Server, socketPath: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    const previous = process.umask(0o177)
    try {
      server.listen(socketPath, () => {
        server.off('error', reject)
        resolve()
      })
    } finally {
      process.umask(previous)
    }
  })
  // Should the bind ever become asynchronous, this still closes the window as early as possible.
  await fs.chmod(socketPath, 0o600)
}
