import fs from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'

/** Another daemon owns the admin socket. */
export class SocketInUseError extends Error {}

/**
 * Make `socketPath` free to listen on: a socket left by a crashed daemon (nobody accepts on it) is removed;
 * a live one means another daemon runs, and we refuse rather than steal it.
 */
export async function claimSocketPath(socketPath: string): Promise<void> {
  await fs.mkdir(path.dirname(socketPath), {recursive: true})
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
