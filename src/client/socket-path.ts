import path from 'node:path'

/** The directory the default socket of root lives in (root-owned /run: nobody else can create it first). */
export const ROOT_SOCKET_DIR = '/run/tavern'
/** Parent of the per-user socket directories of everyone else (a fixed path, not $TMPDIR: that is a session variable). */
export const USER_SOCKET_PARENT = '/tmp'

function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0
}

/**
 * The default admin socket: `/run/tavern/tavern.sock` for root, `/tmp/tavern-<uid>/tavern.sock` for anyone else.
 * It depends only on the uid, never on session variables ($XDG_RUNTIME_DIR, $TMPDIR), so a daemon started from a login
 * shell and a command run from cron agree. The directory is owner-only (serve creates it 0700 and refuses one that
 * belongs to someone else, see socket-guard.ts).
 */
export function defaultSocketPath(uid: number = currentUid()): string {
  return path.join(defaultSocketDir(uid), 'tavern.sock')
}

export function defaultSocketDir(uid: number = currentUid()): string {
  return uid === 0 ? ROOT_SOCKET_DIR : path.join(USER_SOCKET_PARENT, `tavern-${uid}`)
}

/** Where the admin socket is, in this order: --socket, the config's `socket`, $TAVERN_SOCKET, the default. */
export function resolveSocketPath(opts: {flag?: string; config?: string; env?: NodeJS.ProcessEnv; uid?: number}): {path: string; isDefault: boolean} {
  if (opts.flag) return {path: path.resolve(opts.flag), isDefault: false}
  if (opts.config) return {path: path.resolve(opts.config), isDefault: false}
  const env = (opts.env ?? process.env).TAVERN_SOCKET
  if (env) return {path: path.resolve(env), isDefault: false}
  return {path: defaultSocketPath(opts.uid), isDefault: true}
}
