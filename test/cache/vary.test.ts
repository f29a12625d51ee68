import {describe, expect, it} from 'vitest'

import {normalizeFieldValue, parseVary, variantSelector} from '../../src/cache/vary.js'

describe('parseVary', () => {
  it('lower-cases, trims and de-duplicates across lines', () => {
    expect(parseVary(['Vary', ' Accept-Encoding , Accept', 'vary', 'accept-encoding,,Cookie'])).toEqual([
      'accept-encoding',
      'accept',
      'cookie',
    ])
  })
  it('collapses to ["*"] when any member is *', () => {
    expect(parseVary(['Vary', 'Accept', 'Vary', '*'])).toEqual(['*'])
  })
  it('is empty without Vary', () => {
    expect(parseVary(['Content-Type', 'text/plain'])).toEqual([])
  })
})

describe('variantSelector', () => {
  it('is empty for no names and null for *', () => {
    expect(variantSelector([], ['Accept', 'x'])).toBe('')
    expect(variantSelector(['*'], [])).toBeNull()
  })
  it('is sorted and independent of Vary order and request header case', () => {
    const a = variantSelector(['accept-language', 'accept-encoding'], ['Accept-Encoding', 'gzip', 'ACCEPT-LANGUAGE', 'en'])
    const b = variantSelector(['Accept-Encoding', 'Accept-Language'], ['accept-language', 'en', 'accept-encoding', 'gzip'])
    expect(a).toBe('accept-encoding=gzip&accept-language=en')
    expect(b).toBe(a)
  })
  it('normalises whitespace around commas and combines lines', () => {
    const one = variantSelector(['accept-encoding'], ['Accept-Encoding', ' gzip ,  br'])
    const two = variantSelector(['accept-encoding'], ['Accept-Encoding', 'gzip', 'Accept-Encoding', 'br'])
    expect(one).toBe('accept-encoding=gzip,br')
    expect(two).toBe(one)
    expect(normalizeFieldValue(['a ,b', ' c'])).toBe('a,b,c')
  })
  it('distinguishes an absent field from an empty one', () => {
    const absent = variantSelector(['accept-language'], [])
    const empty = variantSelector(['accept-language'], ['Accept-Language', ''])
    expect(absent).toBe('accept-language')
    expect(empty).toBe('accept-language=')
    expect(absent).not.toBe(empty)
  })
  it('percent-encodes separators, spaces, control and non-ASCII characters so values cannot collide', () => {
    const s = variantSelector(['x-a', 'x-b'], ['X-A', 'v&x-b=1', 'X-B', 'q=0.5 a%b\u0000é'])!
    expect(s).toBe('x-a=v%26x-b%3D1&x-b=q%3D0.5%20a%25b%00%C3%A9')
    expect(s).not.toContain('\u0000')
    expect(variantSelector(['x-a', 'x-b'], ['X-A', 'v', 'X-B', '1'])).not.toBe(s)
  })
  it('keeps distinct values distinct', () => {
    expect(variantSelector(['accept'], ['Accept', 'text/html'])).not.toBe(variantSelector(['accept'], ['Accept', 'text/plain']))
  })
})
