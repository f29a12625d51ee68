/**
 * Checks and decoding of an origin response's message framing (RFC 9112 §6), before anyone relays or stores its body:
 *
 * - Content-Length must be one valid decimal length that fits a safe integer (§6.3 item 5: an invalid one is an
 *   unrecoverable framing error; a proxy answers 502). undici only rejects values beyond 2^64.
 * - undici removes the chunked coding and leaves any other transfer coding in place. Codings we know (gzip, x-gzip,
 *   deflate) are decoded here so the body is the identity representation; any other coding, or chunked anywhere but
 *   last, makes the response unusable (502). Decoding is bounded: a decompression bomb fails the body.
 */
import {pipeline, Readable, Transform} from 'node:stream'
import zlib from 'node:zlib'

import {getAll, splitList} from '../../util/raw-headers.js'

/** Transfer codings we can undo, as zlib streams (RFC 9112 §7.2: deflate is the zlib format, gzip/x-gzip the gzip one). */
const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
}

/** More stacked codings than this is an attack, not an encoding. */
const MAX_CODINGS = 4

export class FramingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FramingError'
  }
}

/** Whether a response to `method` with `status` has a message body at all (RFC 9112 §6.3 items 1–2). */
export function hasResponseBody(method: string, status: number): boolean {
  return method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304
}

/** Throws FramingError when the Content-Length lines are not one valid, safe length. */
export function checkContentLength(headers: readonly string[]): void {
  const values = getAll(headers, 'content-length')
  if (values.length === 0) return
  let length: string | undefined
  for (const line of values) {
    for (const v of line.split(',')) {
      const t = v.trim()
      if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t))) throw new FramingError(`invalid Content-Length ${JSON.stringify(line.slice(0, 40))}`)
      if (length !== undefined && Number(length) !== Number(t)) throw new FramingError('conflicting Content-Length values')
      length = t
    }
  }
}

/** The transfer codings left on the body after undici removed a final chunked (lower case, in the order applied). */
export function remainingCodings(headers: readonly string[]): string[] {
  const codings: string[] = []
  for (const line of getAll(headers, 'transfer-encoding')) for (const c of splitList(line)) codings.push(c.split(';')[0]!.trim().toLowerCase())
  if (codings.at(-1) === 'chunked') codings.pop()
  return codings.filter((c) => c !== 'identity' && c !== '')
}

/**
 * The body with the remaining transfer codings undone, or the body itself when there are none. Throws FramingError
 * for a coding we do not know. The decoded stream fails once it would exceed `maxDecodedBytes`.
 */
export function decodeTransferCodings(headers: readonly string[], body: Readable, maxDecodedBytes: number): Readable {
  const codings = remainingCodings(headers)
  if (codings.length === 0) return body
  if (codings.length > MAX_CODINGS) throw new FramingError(`${codings.length} stacked transfer codings`)
  const decoders: Transform[] = []
  for (const c of codings.reverse()) {
    const make = DECODERS[c]
    if (!make) throw new FramingError(c === 'chunked' ? 'chunked is not the final transfer coding' : `unsupported transfer coding "${c}"`)
    decoders.push(make())
  }
  let out = 0
  const bound = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      out += chunk.length
      if (out > maxDecodedBytes) cb(new FramingError(`decoded body exceeds ${maxDecodedBytes} bytes (decompression bomb?)`))
      else cb(null, chunk)
    },
  })
  // pipeline() listens for errors on every stage and destroys them all when one fails or the last is destroyed.
  return pipeline([body, ...decoders, bound], () => {}) as unknown as Readable
}
