import {describe, expect, it} from 'vitest'

import {effectiveCacheControl, parseTargetedField} from '../../src/cache/targeted.js'

const FIELDS = ['tavern-cache-control', 'cdn-cache-control']

describe('parseTargetedField (RFC 8941 dictionary)', () => {
  it('parses integers and booleans', () => {
    const cc = parseTargetedField('max-age=60, no-store')!
    expect(cc.seconds('max-age')).toBe(60)
    expect(cc.has('no-store')).toBe(true)
  })

  it('ignores parameters on members', () => {
    const cc = parseTargetedField('max-age=60;foo=bar, public;x')!
    expect(cc.seconds('max-age')).toBe(60)
    expect(cc.has('public')).toBe(true)
  })

  it.each(['Max-Age=60', 'max-age =60', 'max-age= 60', 'max-age=60,', 'max-age=6 0', '', '   ', 'max-age=60;', 'a="unterminated'])(
    'rejects %j so the field is ignored',
    (v) => {
      expect(parseTargetedField(v)).toBeUndefined()
    },
  )

  it('treats a String, Decimal or negative max-age as an invalid value, not as seconds', () => {
    expect(parseTargetedField('max-age="60"')!.invalid('max-age')).toBe(true)
    expect(parseTargetedField('max-age=1.5')!.invalid('max-age')).toBe(true)
    expect(parseTargetedField('max-age=-1')!.invalid('max-age')).toBe(true)
  })

  it('lets the last duplicate win (dictionary semantics) so duplicates never conflict', () => {
    const cc = parseTargetedField('max-age=1, max-age=600')!
    expect(cc.seconds('max-age')).toBe(600)
    expect(cc.conflicting('max-age')).toBe(false)
  })

  it('treats ?0 as absent', () => {
    expect(parseTargetedField('no-store=?0, max-age=5')!.has('no-store')).toBe(false)
  })

  it('reads private field lists from strings and inner lists', () => {
    expect(parseTargetedField('private="Set-Cookie"')!.fieldNames('private')).toEqual(['set-cookie'])
    expect(parseTargetedField('no-cache=("a" "b")')!.fieldNames('no-cache')).toEqual(['a', 'b'])
  })
})

describe('effectiveCacheControl', () => {
  it('replaces Cache-Control entirely with the first valid targeted field', () => {
    const h = ['Cache-Control', 'no-store', 'CDN-Cache-Control', 'max-age=600']
    const e = effectiveCacheControl(h, FIELDS)
    expect(e.source).toBe('targeted')
    expect(e.field).toBe('cdn-cache-control')
    expect(e.cc.has('no-store')).toBe(false)
    expect(e.cc.seconds('max-age')).toBe(600)
  })

  it('walks the configured order', () => {
    const h = ['CDN-Cache-Control', 'max-age=600', 'Tavern-Cache-Control', 'max-age=5']
    const e = effectiveCacheControl(h, FIELDS)
    expect(e.field).toBe('tavern-cache-control')
    expect(e.cc.seconds('max-age')).toBe(5)
  })

  it('skips an unparseable targeted field and falls back', () => {
    const h = ['Tavern-Cache-Control', 'Max-Age=5', 'CDN-Cache-Control', 'no-store', 'Cache-Control', 'max-age=9']
    expect(effectiveCacheControl(h, FIELDS).field).toBe('cdn-cache-control')
    const h2 = ['CDN-Cache-Control', 'max-age =5', 'Cache-Control', 'max-age=9']
    const e2 = effectiveCacheControl(h2, FIELDS)
    expect(e2.source).toBe('cache-control')
    expect(e2.cc.seconds('max-age')).toBe(9)
  })

  it('combines multiple lines of a targeted field', () => {
    const e = effectiveCacheControl(['CDN-Cache-Control', 'max-age=5', 'cdn-cache-control', 'must-revalidate'], FIELDS)
    expect(e.cc.seconds('max-age')).toBe(5)
    expect(e.cc.has('must-revalidate')).toBe(true)
  })

  it('uses Cache-Control when no targeted field is configured or present', () => {
    expect(effectiveCacheControl(['CDN-Cache-Control', 'max-age=5', 'Cache-Control', 'private'], []).cc.has('private')).toBe(true)
    expect(effectiveCacheControl(['Cache-Control', 'max-age=7'], FIELDS).cc.seconds('max-age')).toBe(7)
  })
})
