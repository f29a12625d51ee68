import type {ServerResponse} from 'node:http'
import type {Readable} from 'node:stream'

import {discardBody} from '../util/discard.js'

/**
 * Stream a body to the client with backpressure (src.pipe). Resolves when the response finished, rejects when the
 * source fails or the client leaves first (the source is then destroyed). Cheaper than stream/promises pipeline(),
 * which builds and aborts an AbortController (and a DOMException) on every call.
 */
export function pipeBody(src: Readable, res: ServerResponse): Promise<void> {
  // The client already left: nobody will read the source (a 'close' listener added now would never fire).
  if (res.destroyed) {
    discardBody(src)
    return Promise.reject(new Error('client closed the connection'))
  }
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
        discardBody(src)
        settle(new Error('client closed the connection'))
      }
    })
    src.pipe(res)
  })
}
