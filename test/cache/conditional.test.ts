import {describe, expect, it} from 'vitest'

import {
  buildValidationHeaders,
  evaluatePreconditions,
  notModifiedHeaders,
  parseEntityTag,
  parseEntityTagList,
  strongMatch,
  weakMatch,
} from '../../src/cache/conditional.js'

const LM = 'Mon, 01 Jan 2024 00:00:00 GMT'
const BEFORE = 'Sun, 31 Dec 2023 00:00:00 GMT'
const AFTER = 'Tue, 02 Jan 2024 00:00:00 GMT'
const stored = {status: 200, etag: '"v1"', lastModified: LM}

describe('entity-tags (RFC 9110 §8.8.3)', () => {
  it('parses strong and weak tags', () => {
    expect(parseEntityTag('"xyzzy"')).toEqual({weak: false, opaque: '"xyzzy"'})
    expect(parseEntityTag('W/"xyzzy"')).toEqual({weak: true, opaque: '"xyzzy"'})
    expect(parseEntityTag('""')).toEqual({weak: false, opaque: '""'})
  })
  it.each(['xyzzy', 'w/"x"', '"x', '"a"b"', 'W/ "x"'])('rejects %j', (v) => {
    expect(parseEntityTag(v)).toBeUndefined()
  })
  it('parses lists, including commas inside tags, and *', () => {
    expect(parseEntityTagList('"a", W/"b,c" ,"d"')).toEqual([
      {weak: false, opaque: '"a"'},
      {weak: true, opaque: '"b,c"'},
      {weak: false, opaque: '"d"'},
    ])
    expect(parseEntityTagList(' * ')).toBe('*')
    expect(parseEntityTagList(['"a"', '"b"'])).toHaveLength(2)
  })
  // The comparison table of RFC 9110 §8.8.3.2.
  it.each([
    ['W/"1"', 'W/"1"', false, true],
    ['W/"1"', 'W/"2"', false, false],
    ['W/"1"', '"1"', false, true],
    ['"1"', '"1"', true, true],
  ])('%s vs %s: strong=%s weak=%s', (a, b, strong, weak) => {
    const x = parseEntityTag(a)!
    const y = parseEntityTag(b)!
    expect(strongMatch(x, y)).toBe(strong)
    expect(weakMatch(x, y)).toBe(weak)
    expect(strongMatch(y, x)).toBe(strong)
    expect(weakMatch(y, x)).toBe(weak)
  })
})

describe('evaluatePreconditions (RFC 9110 §13.2.2)', () => {
  const ev = (h: string[], method = 'GET', s: Parameters<typeof evaluatePreconditions>[1] = stored) => evaluatePreconditions(h, s, method)

  it('proceeds without conditionals', () => {
    expect(ev([])).toBe('proceed')
  })
  it('If-None-Match uses weak comparison: 304 for GET/HEAD, 412 otherwise', () => {
    expect(ev(['If-None-Match', 'W/"v1"'])).toBe('not-modified')
    expect(ev(['If-None-Match', '"x", "v1"'], 'HEAD')).toBe('not-modified')
    expect(ev(['If-None-Match', '"v1"'], 'DELETE')).toBe('precondition-failed')
    expect(ev(['If-None-Match', '"v2"'])).toBe('proceed')
    expect(ev(['If-None-Match', '*'])).toBe('not-modified')
  })
  it('If-None-Match wins over If-Modified-Since', () => {
    expect(ev(['If-None-Match', '"v2"', 'If-Modified-Since', AFTER])).toBe('proceed')
  })
  it('If-Modified-Since compares with Last-Modified', () => {
    expect(ev(['If-Modified-Since', LM])).toBe('not-modified')
    expect(ev(['If-Modified-Since', AFTER])).toBe('not-modified')
    expect(ev(['If-Modified-Since', BEFORE])).toBe('proceed')
  })
  it('ignores If-Modified-Since for other methods, when invalid, or when repeated', () => {
    expect(ev(['If-Modified-Since', AFTER], 'POST')).toBe('proceed')
    expect(ev(['If-Modified-Since', 'yesterday'])).toBe('proceed')
    expect(ev(['If-Modified-Since', AFTER, 'If-Modified-Since', AFTER])).toBe('proceed')
  })
  it('falls back to the stored Date for If-Modified-Since (RFC 9111 §4.3.2), else proceeds', () => {
    expect(ev(['If-Modified-Since', AFTER], 'GET', {status: 200, date: LM})).toBe('not-modified')
    expect(ev(['If-Modified-Since', AFTER], 'GET', {status: 200})).toBe('proceed')
  })
  it('If-Match uses strong comparison', () => {
    expect(ev(['If-Match', '"v1"'])).toBe('proceed')
    expect(ev(['If-Match', 'W/"v1"'])).toBe('precondition-failed')
    expect(ev(['If-Match', '"v1"'], 'GET', {status: 200, etag: 'W/"v1"'})).toBe('precondition-failed')
    expect(ev(['If-Match', '*'])).toBe('proceed')
    expect(ev(['If-Match', '"v1"'], 'GET', {status: 200})).toBe('precondition-failed')
  })
  it('If-Match failure comes before If-None-Match', () => {
    expect(ev(['If-Match', '"nope"', 'If-None-Match', '"v1"'])).toBe('precondition-failed')
  })
  it('If-Unmodified-Since only applies without If-Match', () => {
    expect(ev(['If-Unmodified-Since', BEFORE])).toBe('precondition-failed')
    expect(ev(['If-Unmodified-Since', LM])).toBe('proceed')
    expect(ev(['If-Match', '"v1"', 'If-Unmodified-Since', BEFORE])).toBe('proceed')
    expect(ev(['If-Unmodified-Since', 'garbage'])).toBe('proceed')
  })
  it('ignores preconditions when the stored status is not 2xx', () => {
    expect(ev(['If-None-Match', '"v1"'], 'GET', {...stored, status: 404})).toBe('proceed')
    expect(ev(['If-Match', '"zzz"'], 'GET', {...stored, status: 301})).toBe('proceed')
  })
})

describe('buildValidationHeaders', () => {
  it('sends both validators', () => {
    expect(buildValidationHeaders({etag: '"v1"', lastModified: LM})).toEqual(['If-None-Match', '"v1"', 'If-Modified-Since', LM])
  })
  it('omits absent or unusable ones', () => {
    expect(buildValidationHeaders({})).toEqual([])
    expect(buildValidationHeaders({lastModified: 'whenever'})).toEqual([])
  })
})

describe('notModifiedHeaders (RFC 9110 §15.4.5)', () => {
  it('keeps only the fields a 304 carries, in order', () => {
    const h = [
      'Content-Type', 'text/html',
      'ETag', '"v1"',
      'Content-Length', '10',
      'Cache-Control', 'max-age=60',
      'Vary', 'Accept',
      'Vary', 'Accept-Encoding',
      'Set-Cookie', 'a=b',
      'Date', LM,
      'Expires', AFTER,
      'Content-Location', '/x',
      'Last-Modified', LM,
    ]
    expect(notModifiedHeaders(h)).toEqual([
      'ETag', '"v1"',
      'Cache-Control', 'max-age=60',
      'Vary', 'Accept',
      'Vary', 'Accept-Encoding',
      'Date', LM,
      'Expires', AFTER,
      'Content-Location', '/x',
      'Last-Modified', LM,
    ])
  })
})
