import type {ServerResponse} from 'node:http'
import type {Readable} from 'node:stream'

/**
 * Stream a body to the client with backpressure (src.pipe). Resolves when the response finished, rejects when the
 * source fails or the client leaves first (the source is then destroyed). Cheaper than stream/promises pipeline(),
 * which builds and aborts an AbortController (and a DOMException) on every call.
 */
export function pipeBody(src: Readable, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false
    const settle = (err?: Error) => {
      if (settled) return
      settled = true
      if (err) reject(err)
      else resolve()
    }
    src.once('error', (err: Error) => settle(err))
    res.once('close', () => {
      if (res.writableFinished) settle()
      else {
        src.destroy()
        settle(new Error('client closed the connection'))
      }
    })
    src.pipe(res)
  })
}
