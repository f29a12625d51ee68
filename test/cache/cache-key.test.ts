import {describe, expect, it} from 'vitest'

import {absoluteFormTarget, cacheKey, keyPrefixForDir} from '../../src/cache/cache-key.js'

const keep = {query: 'keep'} as const

describe('cacheKey', () => {
  it('lower-cases scheme and host and drops the default port', () => {
    expect(cacheKey({scheme: 'http', host: 'Example.COM:80', path: '/A'}, keep)).toBe('http://example.com/A')
    expect(cacheKey({scheme: 'https', host: 'example.com:443', path: '/'}, keep)).toBe('https://example.com/')
    expect(cacheKey({scheme: 'http', host: 'example.com:443', path: '/'}, keep)).toBe('http://example.com:443/')
    expect(cacheKey({scheme: 'http', host: 'example.com:', path: '/'}, keep)).toBe('http://example.com/')
    expect(cacheKey({scheme: 'http', host: '[::1]:8080', path: '/'}, keep)).toBe('http://[::1]:8080/')
    expect(cacheKey({scheme: 'http', host: '[::1]:80', path: '/'}, keep)).toBe('http://[::1]/')
  })

  it('normalises percent-encoding (RFC 3986 §6.2.2)', () => {
    expect(cacheKey({scheme: 'http', host: 'h', path: '/%7euser/a%2fb%41?q=%e2%82%ac%2D'}, keep)).toBe('http://h/~user/a%2FbA?q=%E2%82%AC-')
  })

  it('keeps the path as sent otherwise (no dot-segment or case folding)', () => {
    expect(cacheKey({scheme: 'http', host: 'h', path: '/A/./b/../C'}, keep)).toBe('http://h/A/./b/../C')
  })

  it('drops an empty query and fragments, and roots an empty path', () => {
    expect(cacheKey({scheme: 'http', host: 'h', path: '/a?'}, keep)).toBe('http://h/a')
    expect(cacheKey({scheme: 'http', host: 'h', path: '/a#x'}, keep)).toBe('http://h/a')
    expect(cacheKey({scheme: 'http', host: 'h', path: ''}, keep)).toBe('http://h/')
  })

  it('keeps query order by default', () => {
    expect(cacheKey({scheme: 'http', host: 'h', path: '/a?b=2&a=1'}, keep)).toBe('http://h/a?b=2&a=1')
  })

  it('sorts stably by parameter name', () => {
    expect(cacheKey({scheme: 'http', host: 'h', path: '/a?b=2&a=2&c&a=1&&'}, {query: 'sort'})).toBe('http://h/a?a=2&a=1&b=2&c')
  })

  it('ignores the query', () => {
    expect(cacheKey({scheme: 'http', host: 'h', path: '/a?b=2'}, {query: 'ignore'})).toBe('http://h/a')
  })

  it('removes ignored parameters', () => {
    const o = {query: 'keep', ignoreParams: ['utm_source', 'fbclid']} as const
    expect(cacheKey({scheme: 'http', host: 'h', path: '/a?utm_source=x&id=1&fbclid'}, o)).toBe('http://h/a?id=1')
    expect(cacheKey({scheme: 'http', host: 'h', path: '/a?utm_source=x'}, o)).toBe('http://h/a')
    expect(cacheKey({scheme: 'http', host: 'h', path: '/a?utm_source_x=1'}, o)).toBe('http://h/a?utm_source_x=1')
  })
})

describe('absoluteFormTarget', () => {
  it('splits absolute-form targets', () => {
    expect(absoluteFormTarget('HTTP://user:pw@Example.com:8080/p?q=1#f')).toEqual({scheme: 'http', host: 'Example.com:8080', path: '/p?q=1'})
    expect(absoluteFormTarget('https://example.com')).toEqual({scheme: 'https', host: 'example.com', path: '/'})
    expect(absoluteFormTarget('http://example.com?x')).toEqual({scheme: 'http', host: 'example.com', path: '/?x'})
  })
  it('returns undefined for origin-form and other schemes', () => {
    expect(absoluteFormTarget('/p?q=1')).toBeUndefined()
    expect(absoluteFormTarget('ftp://example.com/')).toBeUndefined()
    expect(absoluteFormTarget('http:///nohost')).toBeUndefined()
  })
})

describe('keyPrefixForDir', () => {
  it('ends at a path boundary', () => {
    expect(keyPrefixForDir('http://Example.com/static')).toBe('http://example.com/static/')
    expect(keyPrefixForDir('http://example.com/static/')).toBe('http://example.com/static/')
    expect(keyPrefixForDir({host: 'example.com:80', pathPrefix: '/static'})).toBe('http://example.com/static/')
    expect(keyPrefixForDir({host: 'example.com', pathPrefix: '/', scheme: 'https'})).toBe('https://example.com/')
  })
  it('does not match a sibling with the same leading characters', () => {
    const prefix = keyPrefixForDir('http://example.com/static')
    expect(cacheKey({scheme: 'http', host: 'example.com', path: '/static-old/x'}, keep).startsWith(prefix)).toBe(false)
    expect(cacheKey({scheme: 'http', host: 'example.com', path: '/static/x.css'}, keep).startsWith(prefix)).toBe(true)
  })
  it('normalises like cacheKey so encoded paths still match', () => {
    const prefix = keyPrefixForDir('http://example.com/%7eu')
    expect(cacheKey({scheme: 'http', host: 'example.com', path: '/~u/file'}, keep).startsWith(prefix)).toBe(true)
  })
  it('rejects non-absolute input', () => {
    expect(() => keyPrefixForDir('/static')).toThrow(TypeError)
  })
})
