import os from 'node:os'
import path from 'node:path'

/** $TAVERN_SOCKET, else $XDG_RUNTIME_DIR/tavern.sock, else <tmpdir>/tavern-<uid>.sock. */
export function defaultSocketPath(): string {
  if (process.env.TAVERN_SOCKET) return process.env.TAVERN_SOCKET
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, 'tavern.sock')
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0
  return path.join(os.tmpdir(), `tavern-${uid}.sock`)
}
