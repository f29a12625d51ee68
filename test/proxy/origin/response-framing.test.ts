import {Readable} from 'node:stream'
import {text} from 'node:stream/consumers'
import zlib from 'node:zlib'

import {describe, expect, it} from 'vitest'

import {checkContentLength, decodeTransferCodings, FramingError, remainingCodings} from '../../../src/proxy/origin/response-framing.js'

describe('checkContentLength', () => {
  it('accepts one valid length (repeated identical values too)', () => {
    expect(() => checkContentLength(['Content-Length', '10'])).not.toThrow()
    expect(() => checkContentLength(['Content-Length', '10', 'content-length', '10'])).not.toThrow()
    expect(() => checkContentLength([])).not.toThrow()
  })

  it('refuses lengths that are not safe integers, not digits, or conflict', () => {
    for (const v of ['18014398509481984', '-1', '1e3', '', '0x10']) expect(() => checkContentLength(['Content-Length', v])).toThrow(FramingError)
    expect(() => checkContentLength(['Content-Length', '1', 'Content-Length', '2'])).toThrow(FramingError)
  })
})

describe('transfer codings', () => {
  it('lists what undici left after a final chunked', () => {
    expect(remainingCodings(['Transfer-Encoding', 'gzip, chunked'])).toEqual(['gzip'])
    expect(remainingCodings(['Transfer-Encoding', 'chunked'])).toEqual([])
    expect(remainingCodings(['Transfer-Encoding', 'deflate', 'Transfer-Encoding', 'Chunked'])).toEqual(['deflate'])
  })

  it('decodes gzip and deflate, in the reverse of the order applied', async () => {
    const body = 'hello, identity'
    const twice = zlib.gzipSync(zlib.deflateSync(body))
    expect(await text(decodeTransferCodings(['Transfer-Encoding', 'deflate, gzip, chunked'], Readable.from([twice]), 1e6))).toBe(body)
    expect(await text(decodeTransferCodings(['Transfer-Encoding', 'x-gzip, chunked'], Readable.from([zlib.gzipSync(body)]), 1e6))).toBe(body)
  })

  it('refuses unknown codings and chunked that is not last', () => {
    expect(() => decodeTransferCodings(['Transfer-Encoding', 'br, chunked'], Readable.from([]), 1e6)).toThrow(/unsupported/)
    expect(() => decodeTransferCodings(['Transfer-Encoding', 'chunked, gzip'], Readable.from([]), 1e6)).toThrow(FramingError)
  })

  it('fails the body once it decodes past the bound', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(1024 * 1024))
    const out = decodeTransferCodings(['Transfer-Encoding', 'gzip, chunked'], Readable.from([bomb]), 64 * 1024)
    await expect(text(out)).rejects.toThrow(/decompression bomb/)
  })
})
