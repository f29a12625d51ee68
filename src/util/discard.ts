import type {Readable} from 'node:stream'

/** Swallows the error a discarded stream may still emit (a destroyed stream without a listener is a crash). */
function ignore(): void {}

/**
 * The one way to get rid of a body we will not read (an undici response body, a file stream, a tail reader).
 *
 * - `'destroy'` (default): stop it now; for an origin body this closes its connection.
 * - `'drain'`: read it to the end and drop the bytes, so a keep-alive connection can be reused (small bodies).
 *
 * An `'error'` listener is attached first, so a body that fails after this call never reaches the process as an
 * unhandled `'error'` event. Safe to call twice, and on a stream that already ended or was destroyed.
 */
export function discardBody(body: Readable | undefined | null, how: 'destroy' | 'drain' = 'destroy'): void {
  if (!body) return
  if (body.listeners('error').indexOf(ignore) < 0) body.on('error', ignore)
  if (body.destroyed) return
  if (how === 'drain' && !body.readableEnded) body.resume()
  else body.destroy()
}
