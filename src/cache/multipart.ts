/**
 * Streaming `multipart/byteranges` bodies (RFC 9110 §14.6). The layout is computed up front so
 * the exact Content-Length is known before the first byte is written; the stream then reads
 * each range from storage one at a time, without ever holding a whole body in memory.
 */
import {randomBytes} from 'node:crypto'
import {Readable} from 'node:stream'
import {contentRangeHeader, type ByteRange} from './range.js'

export interface MultipartPart {
  /** Delimiter plus part header section, ready to write (includes the blank line). */
  head: Buffer
  start: number
  /** Inclusive. */
  end: number
}

export interface MultipartLayout {
  /** Value for the response's Content-Type: `multipart/byteranges; boundary=…`. */
  contentType: string
  /** Exact byte length of heads + slices + tail. */
  totalLength: number
  parts: MultipartPart[]
  /** Close delimiter. */
  tail: Buffer
}

export type RangeOpener = (start: number, endInclusive: number) => NodeJS.ReadableStream | Readable

/** A random boundary of base64url characters: all valid bchars and token chars, so never quoted. */
export function createBoundary(): string {
  // 144 random bits: a collision with representation bytes is not a practical concern.
  return `tavern-${randomBytes(18).toString('base64url')}`
}

// bchars from RFC 2046 §5.1.1, minus space (our boundaries never need it and it forces quoting).
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=?]{1,70}$/

/**
 * Compute heads, tail and total length. The first part starts directly with `--boundary`
 * (as in RFC 9110's example); later parts start with the CRLF that belongs to the delimiter.
 */
export function multipartLayout(
  ranges: readonly ByteRange[],
  size: number,
  contentType: string | undefined,
  boundary: string,
): MultipartLayout {
  if (ranges.length === 0) throw new RangeError('multipart/byteranges needs at least one range')
  if (!BOUNDARY.test(boundary)) throw new RangeError(`invalid multipart boundary "${boundary}"`)
  // A CR or LF would let the stored Content-Type inject part headers.
  if (contentType !== undefined && /[\r\n\0]/.test(contentType)) throw new RangeError('invalid Content-Type for a part')

  let totalLength = 0
  const parts: MultipartPart[] = ranges.map((r, i) => {
    if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end) || r.start < 0 || r.end < r.start || r.end >= size) {
      throw new RangeError(`range ${r.start}-${r.end} is outside a ${size}-byte representation`)
    }
    let text = `${i === 0 ? '' : '\r\n'}--${boundary}\r\n`
    if (contentType !== undefined) text += `Content-Type: ${contentType}\r\n`
    text += `Content-Range: ${contentRangeHeader(r, size)}\r\n\r\n`
    // latin1 because Node decodes header values as latin1; this writes back the original bytes.
    const head = Buffer.from(text, 'latin1')
    totalLength += head.length + (r.end - r.start + 1)
    return {head, start: r.start, end: r.end}
  })
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1')
  totalLength += tail.length

  return {contentType: `multipart/byteranges; boundary=${boundary}`, totalLength, parts, tail}
}

/** The body for `layout`, reading each part's bytes from `openRange` lazily and in order. */
export function multipartStream(layout: MultipartLayout, openRange: RangeOpener): Readable {
  return new MultipartStream(layout, openRange)
}

function noop(): void {}

class MultipartStream extends Readable {
  readonly #layout: MultipartLayout
  readonly #openRange: RangeOpener
  #part = 0
  #headSent = false
  #ended = false
  /** Consumer asked for data and no push() has said "stop" since. */
  #wanted = false
  #src: NodeJS.ReadableStream | undefined
  #remaining = 0
  #detach: (() => void) | undefined

  constructor(layout: MultipartLayout, openRange: RangeOpener) {
    super()
    this.#layout = layout
    this.#openRange = openRange
  }

  override _read(): void {
    this.#wanted = true
    if (this.#src) this.#src.resume()
    else this.#pump()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const src = this.#src
    this.#release()
    // Only we read from the source, so a consumer going away must close it (file handles, etc.).
    if (src && 'destroy' in src && typeof src.destroy === 'function') (src as Readable).destroy()
    cb(err)
  }

  #push(chunk: Buffer): void {
    if (!this.push(chunk)) this.#wanted = false
  }

  /** Emit heads and open the next source while wanted; a source, once open, drives itself. */
  #pump(): void {
    while (this.#wanted && !this.#src && !this.#ended && !this.destroyed) {
      const part = this.#layout.parts[this.#part]
      if (!part) {
        this.#ended = true
        this.push(this.#layout.tail)
        this.push(null)
        return
      }
      if (!this.#headSent) {
        this.#headSent = true
        this.#push(part.head)
      } else {
        this.#open(part)
      }
    }
  }

  #open(part: MultipartPart): void {
    let src: NodeJS.ReadableStream
    try {
      src = this.#openRange(part.start, part.end)
    } catch (err) {
      this.destroy(toError(err))
      return
    }
    const label = `part ${part.start}-${part.end}`
    this.#src = src
    this.#remaining = part.end - part.start + 1

    const onData = (chunk: unknown): void => {
      if (!(chunk instanceof Uint8Array)) {
        this.destroy(new TypeError(`range source for ${label} produced a non-binary chunk`))
        return
      }
      if (chunk.length > this.#remaining) {
        this.destroy(new Error(`range source for ${label} produced more bytes than the range`))
        return
      }
      this.#remaining -= chunk.length
      this.#push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
      if (!this.#wanted) src.pause()
    }
    const onEnd = (): void => {
      if (this.#remaining > 0) {
        this.destroy(new Error(`range source for ${label} ended ${this.#remaining} bytes short`))
        return
      }
      this.#release()
      this.#part++
      this.#headSent = false
      this.#pump()
    }
    const onError = (err: unknown): void => {
      this.destroy(toError(err))
    }
    // 'close' before 'end' means the source was torn down mid-range.
    const onClose = (): void => {
      this.destroy(new Error(`range source for ${label} closed before ending`))
    }

    src.on('data', onData)
    src.on('end', onEnd)
    src.on('error', onError)
    src.on('close', onClose)
    this.#detach = () => {
      src.removeListener('data', onData)
      src.removeListener('end', onEnd)
      src.removeListener('error', onError)
      src.removeListener('close', onClose)
      // A late error from an abandoned source must not become an uncaught exception.
      src.on('error', noop)
    }
  }

  #release(): void {
    this.#detach?.()
    this.#detach = undefined
    this.#src = undefined
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
