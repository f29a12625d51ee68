import {describe, expect, it} from 'vitest'

import {DELTA_SECONDS_MAX, parseCacheControl, parseDeltaSeconds} from '../../src/cache/cache-control.js'

describe('parseCacheControl', () => {
  it('treats directive names case-insensitively and ignores empty members and whitespace', () => {
    const cc = parseCacheControl(' , MAX-AGE=60 ,, Public ,')
    expect(cc.has('max-age')).toBe(true)
    expect(cc.has('public')).toBe(true)
    expect(cc.seconds('max-age')).toBe(60)
    expect(cc.value('public')).toBe(true)
    expect(cc.names).toEqual(['max-age', 'public'])
  })

  it('combines multiple field lines', () => {
    const cc = parseCacheControl(['no-transform', 'max-age=10, must-revalidate'])
    expect(cc.names).toEqual(['no-transform', 'max-age', 'must-revalidate'])
    expect(cc.seconds('max-age')).toBe(10)
  })

  it('returns an empty result for absent input', () => {
    const cc = parseCacheControl(undefined)
    expect(cc.names).toEqual([])
    expect(cc.has('no-store')).toBe(false)
    expect(cc.value('max-age')).toBeUndefined()
    expect(cc.invalid('max-age')).toBe(false)
  })

  it('accepts the quoted form of max-age (RFC 9111 §5.2: recipients accept both forms)', () => {
    const cc = parseCacheControl('max-age="3600"')
    expect(cc.seconds('max-age')).toBe(3600)
    expect(cc.invalid('max-age')).toBe(false)
  })

  it('unescapes quoted-string values and keeps commas inside quotes', () => {
    const cc = parseCacheControl('ext="a\\"b, c", max-age=5')
    expect(cc.value('ext')).toBe('a"b, c')
    expect(cc.seconds('max-age')).toBe(5)
  })

  it.each(['max-age=-1', 'max-age=1.5', 'max-age=abc', 'max-age=', 'max-age', 'max-age=10s', 'max-age="-5"', 'max-age=+5'])(
    'flags %s as invalid delta-seconds',
    (v) => {
      const cc = parseCacheControl(v)
      expect(cc.has('max-age')).toBe(true)
      expect(cc.seconds('max-age')).toBeUndefined()
      expect(cc.invalid('max-age')).toBe(true)
    },
  )

  it('flags whitespace around "=" as invalid rather than granting freshness', () => {
    expect(parseCacheControl('max-age =3600').invalid('max-age')).toBe(true)
    expect(parseCacheControl('max-age= 3600').invalid('max-age')).toBe(true)
  })

  it('accepts leading zeros', () => {
    expect(parseCacheControl('max-age=0003600').seconds('max-age')).toBe(3600)
  })

  it('clamps values beyond 2^31 to 2147483648 (RFC 9111 §1.2.2)', () => {
    expect(parseCacheControl('max-age=2147483648').seconds('max-age')).toBe(DELTA_SECONDS_MAX)
    expect(parseCacheControl('max-age=2147483647').seconds('max-age')).toBe(2147483647)
    expect(parseCacheControl('max-age=99999999999999999999999999').seconds('max-age')).toBe(2147483648)
    expect(parseDeltaSeconds('9'.repeat(400))).toBe(2147483648)
  })

  it('reports conflicting duplicates but not agreeing ones', () => {
    expect(parseCacheControl('max-age=1, max-age=3600').conflicting('max-age')).toBe(true)
    expect(parseCacheControl(['max-age=3600', 'max-age=1']).conflicting('max-age')).toBe(true)
    expect(parseCacheControl('max-age=60, max-age=60').conflicting('max-age')).toBe(false)
    expect(parseCacheControl('max-age=60, max-age="60"').conflicting('max-age')).toBe(false)
    expect(parseCacheControl('max-age=60').conflicting('max-age')).toBe(false)
  })

  it('uses the first occurrence for value()/seconds()', () => {
    const cc = parseCacheControl('max-age=1, max-age=3600')
    expect(cc.seconds('max-age')).toBe(1)
  })

  it('treats a duplicate with one invalid value as invalid', () => {
    expect(parseCacheControl('max-age=60, max-age=x').invalid('max-age')).toBe(true)
  })

  it('returns lower-cased field names of qualified no-cache / private', () => {
    const cc = parseCacheControl('no-cache="Set-Cookie, X-Foo", private="Authorization-Info"')
    expect(cc.fieldNames('no-cache')).toEqual(['set-cookie', 'x-foo'])
    expect(cc.fieldNames('private')).toEqual(['authorization-info'])
  })

  it('accepts the token form of a qualified directive', () => {
    expect(parseCacheControl('private=set-cookie').fieldNames('private')).toEqual(['set-cookie'])
  })

  it('lets the unqualified form win over a qualified one', () => {
    expect(parseCacheControl('no-cache="set-cookie", no-cache').fieldNames('no-cache')).toBeUndefined()
    expect(parseCacheControl('no-cache').fieldNames('no-cache')).toBeUndefined()
    expect(parseCacheControl('public').fieldNames('no-cache')).toBeUndefined()
  })

  it('unions qualified lists given more than once', () => {
    expect(parseCacheControl('private="a", private="b, A"').fieldNames('private')).toEqual(['a', 'b'])
  })

  it('does not crash on an unterminated quote', () => {
    const cc = parseCacheControl('no-cache="set-cookie, max-age=5')
    expect(cc.has('no-cache')).toBe(true)
    expect(cc.has('max-age')).toBe(false)
  })
})
