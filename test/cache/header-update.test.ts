import {describe, expect, it} from 'vitest'

import {parseCacheControl} from '../../src/cache/cache-control.js'
import {mergeNotModified, notModifiedSelects, storableHeaders} from '../../src/cache/header-update.js'

describe('storableHeaders (RFC 9111 §3.1)', () => {
  it('drops hop-by-hop fields and those named by Connection, keeping order and duplicates', () => {
    const h = [
      'Content-Type', 'text/plain',
      'Connection', 'keep-alive, X-Hop',
      'Keep-Alive', 'timeout=5',
      'Transfer-Encoding', 'chunked',
      'X-Hop', 'secret',
      'Set-Cookie', 'a=1',
      'Proxy-Connection', 'close',
      'TE', 'trailers',
      'Trailer', 'X-T',
      'Upgrade', 'h2c',
      'Proxy-Authenticate', 'Basic',
      'Set-Cookie', 'b=2',
      'ETag', '"x"',
    ]
    expect(storableHeaders(h, parseCacheControl(undefined))).toEqual([
      'Content-Type', 'text/plain',
      'Set-Cookie', 'a=1',
      'Set-Cookie', 'b=2',
      'ETag', '"x"',
    ])
  })

  it('drops fields named by no-cache="..." and private="..."', () => {
    const h = ['Cache-Control', 'max-age=60, no-cache="Set-Cookie", private="x-user"', 'Set-Cookie', 'a=1', 'X-User', 'bob', 'Vary', 'Accept']
    expect(storableHeaders(h, parseCacheControl(h[1]))).toEqual(['Cache-Control', h[1], 'Vary', 'Accept'])
  })

  it('keeps everything else for unqualified no-cache', () => {
    const h = ['Cache-Control', 'no-cache', 'Set-Cookie', 'a=1']
    expect(storableHeaders(h, parseCacheControl('no-cache'))).toEqual(h)
  })
})

describe('mergeNotModified (RFC 9111 §3.2, §4.3.4)', () => {
  const stored = [
    'Date', 'Mon, 01 Jan 2024 00:00:00 GMT',
    'Content-Type', 'text/html',
    'Content-Length', '1234',
    'Cache-Control', 'max-age=60',
    'X-Multi', 'one',
    'ETag', '"v1"',
    'X-Multi', 'two',
  ]

  it('replaces fields in place, appends new ones and never updates Content-Length', () => {
    const fresh = [
      'Date', 'Tue, 02 Jan 2024 00:00:00 GMT',
      'Content-Length', '0',
      'Cache-Control', 'max-age=120',
      'X-New', 'n',
    ]
    expect(mergeNotModified(stored, fresh)).toEqual([
      'Date', 'Tue, 02 Jan 2024 00:00:00 GMT',
      'Content-Type', 'text/html',
      'Content-Length', '1234',
      'Cache-Control', 'max-age=120',
      'X-Multi', 'one',
      'ETag', '"v1"',
      'X-Multi', 'two',
      'X-New', 'n',
    ])
  })

  it('replaces every stored line of a field with all of the 304\'s lines at the first position', () => {
    const out = mergeNotModified(stored, ['x-multi', 'three', 'X-MULTI', 'four'])
    expect(out).toEqual([
      'Date', 'Mon, 01 Jan 2024 00:00:00 GMT',
      'Content-Type', 'text/html',
      'Content-Length', '1234',
      'Cache-Control', 'max-age=60',
      'x-multi', 'three',
      'X-MULTI', 'four',
      'ETag', '"v1"',
    ])
  })

  it('ignores hop-by-hop, Connection-listed and Content-Range fields of the 304', () => {
    const s = ['Content-Range', 'bytes 0-9/100', 'ETag', '"v1"']
    const fresh = ['Connection', 'X-Hop', 'X-Hop', '1', 'Transfer-Encoding', 'chunked', 'Content-Range', 'bytes */100', 'Keep-Alive', 'x', 'ETag', '"v1"']
    expect(mergeNotModified(s, fresh)).toEqual(['Content-Range', 'bytes 0-9/100', 'ETag', '"v1"'])
  })

  it('leaves stored headers unchanged for an empty 304', () => {
    expect(mergeNotModified(stored, [])).toEqual(stored)
  })
})

describe('notModifiedSelects (RFC 9111 §4.3.4)', () => {
  it('a strong ETag must be the stored strong ETag', () => {
    expect(notModifiedSelects({etag: '"a"'}, ['ETag', '"a"'])).toBe(true)
    expect(notModifiedSelects({etag: '"a"'}, ['ETag', '"b"'])).toBe(false)
    expect(notModifiedSelects({etag: 'W/"a"'}, ['ETag', '"a"'])).toBe(false)
    expect(notModifiedSelects({lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT'}, ['ETag', '"a"'])).toBe(false)
  })

  it('a weak ETag matches weakly', () => {
    expect(notModifiedSelects({etag: '"a"'}, ['ETag', 'W/"a"'])).toBe(true)
    expect(notModifiedSelects({etag: 'W/"a"'}, ['ETag', 'W/"a"'])).toBe(true)
    expect(notModifiedSelects({etag: 'W/"a"'}, ['ETag', 'W/"b"'])).toBe(false)
  })

  it('without an ETag, Last-Modified on both sides must be the same date', () => {
    const lm = 'Mon, 01 Jan 2024 00:00:00 GMT'
    expect(notModifiedSelects({lastModified: lm}, ['Last-Modified', lm])).toBe(true)
    expect(notModifiedSelects({lastModified: lm}, ['Last-Modified', 'Monday, 01-Jan-24 00:00:00 GMT'])).toBe(true)
    expect(notModifiedSelects({lastModified: lm}, ['Last-Modified', 'Tue, 02 Jan 2024 00:00:00 GMT'])).toBe(false)
  })

  it('a 304 without validators answers the ones we sent', () => {
    expect(notModifiedSelects({etag: '"a"'}, ['Cache-Control', 'max-age=60'])).toBe(true)
    expect(notModifiedSelects({}, [])).toBe(true)
  })

  it('a malformed ETag selects nothing', () => {
    expect(notModifiedSelects({etag: '"a"'}, ['ETag', 'a'])).toBe(false)
  })
})
