import {Transform} from 'node:stream'

/**
 * Passes a fill's body through but holds back its final byte until `committed` settles, so a client
 * never holds a complete body before the object is visible in the index (its next request is a hit).
 * Only one byte waits: everything else streams as it arrives.
 */
export function commitGate(committed: Promise<unknown>): Transform {
  let held: Buffer | undefined
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (chunk.length === 0) return cb()
      if (held) this.push(held)
      held = chunk.subarray(chunk.length - 1)
      cb(null, chunk.length > 1 ? chunk.subarray(0, chunk.length - 1) : undefined)
    },
    flush(cb) {
      const release = () => cb(null, held)
      committed.then(release, release)
    },
  })
}
