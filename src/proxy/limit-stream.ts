import {Readable} from 'node:stream'

import {discardBody} from '../util/discard.js'

/** A reader that ends after `n` bytes of `src` (and stops reading it); errors if `src` ends first. */
export function limitStream(src: Readable, n: number): Readable {
  let left = n
  const out = new Readable({
    read() {
      src.resume()
    },
    destroy(err, cb) {
      discardBody(src)
      cb(err)
    },
  })
  src.on('data', (c: Buffer) => {
    if (left <= 0) return
    const part = c.length > left ? c.subarray(0, left) : c
    left -= part.length
    if (!out.push(part)) src.pause()
    if (left === 0) {
      out.push(null)
      discardBody(src)
    }
  })
  src.once('end', () => {
    if (left > 0) out.destroy(new Error('body ended early'))
  })
  src.once('error', (e) => out.destroy(e))
  return out
}
