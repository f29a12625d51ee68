import {describe, expect, it} from 'vitest'

import {absoluteFormTarget, cacheKey, keyPrefixForDir, normalizeTarget, originForm, removeDotSegments} from '../../src/cache/cache-key.js'
import {ConfigSchema} from '../../src/config/schema.js'
import {operatorCacheKey, operatorDirPrefix, resolveRequestTarget, urlCacheKey} from '../../src/proxy/request-target.js'

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

  it('removes dot-segments (RFC 3986 §5.2.4), also percent-encoded ones, but folds no case and keeps %2F', () => {
    expect(cacheKey({scheme: 'http', host: 'h', path: '/A/./b/../C'}, keep)).toBe('http://h/A/C')
    expect(cacheKey({scheme: 'http', host: 'h', path: '/a/%2e%2E/b'}, keep)).toBe('http://h/b')
    expect(cacheKey({scheme: 'http', host: 'h', path: '/a%2F..%2Fb'}, keep)).toBe('http://h/a%2F..%2Fb')
    expect(cacheKey({scheme: 'http', host: 'h', path: '/a/..?x=/../y'}, keep)).toBe('http://h/?x=/../y')
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

describe('removeDotSegments', () => {
  it('follows RFC 3986 §5.2.4', () => {
    const cases: Array<[string, string]> = [
      ['/a/b/c/./../../g', '/a/g'],
      ['/mid/content=5/../6', '/mid/6'],
      ['/a/b/..', '/a/'],
      ['/a/b/.', '/a/b/'],
      ['/a/./', '/a/'],
      ['/..', '/'],
      ['/../../x', '/x'],
      ['/a//../b', '/a/b'],
      ['/a/..b/c.', '/a/..b/c.'],
      ['/', '/'],
    ]
    for (const [input, out] of cases) expect(removeDotSegments(input), input).toBe(out)
  })
})

describe('normalizeTarget (URI equivalences only: what goes upstream)', () => {
  it('normalises the path and the percent-encoding of the query, keeps the query order, drops the fragment', () => {
    const t = normalizeTarget('/a/./%7eb/../c%2f?z=1&a=%7e%2f#frag')
    expect(t).toEqual({path: '/a/c%2F', query: 'z=1&a=~%2F'})
    expect(originForm(t)).toBe('/a/c%2F?z=1&a=~%2F')
    expect(originForm(normalizeTarget('/x?'))).toBe('/x')
  })
  it('percent-encodes (UTF-8) what a request line cannot carry, as an operator may type it', () => {
    expect(normalizeTarget('/caf\u00e9 x').path).toBe('/caf%C3%A9%20x')
  })
})

describe('request targets and operator URLs resolve to the same key', () => {
  const c = ConfigSchema.parse({}).cache
  const key = (host: string | undefined, target: string, method = 'GET') => {
    const r = resolveRequestTarget(host, target, method, c)
    return r.ok === true ? r.key : r
  }

  it('absolute-form: the target authority replaces Host; https is keyed as the listener scheme; upstream gets origin-form', () => {
    expect(resolveRequestTarget('attacker.test', 'http://Victim.test:80/a/../x?q', 'GET', c)).toEqual({ok: true, key: 'http://victim.test/x?q', scheme: 'http', authority: 'victim.test', target: '/x?q', site: undefined, route: expect.objectContaining({site: undefined, name: undefined, group: 'default'}), keyPath: '/x', keyQuery: 'q'})
    expect(key('victim.test', 'https://victim.test:443/x')).toBe('http://victim.test/x')
    expect(key(undefined, 'HTTP://h/x')).toBe('http://h/x')
  })

  it('a TLS listener keys under https (its default port 443 dropped), whatever scheme the target names', () => {
    const tls = (host: string | undefined, target: string) => {
      const r = resolveRequestTarget(host, target, 'GET', c, undefined, 'https')
      return r.ok === true ? r.key : r
    }
    expect(tls('H.test:443', '/x')).toBe('https://h.test/x')
    expect(tls('h.test:80', '/x')).toBe('https://h.test:80/x')
    expect(tls(undefined, 'http://h.test/x')).toBe('https://h.test/x')
    // The memo of resolutions keeps the schemes apart.
    expect(key('h.test', '/x')).toBe('http://h.test/x')
    expect(tls('h.test', '/x')).toBe('https://h.test/x')
  })

  it('operator URLs name https keys when the daemon has TLS listeners, else the http ones', () => {
    expect(operatorCacheKey('https://h.test/x', c)).toBe('http://h.test/x')
    expect(operatorCacheKey('https://h.test:443/x', c, undefined, true)).toBe('https://h.test/x')
    expect(operatorCacheKey('http://h.test/x', c, undefined, true)).toBe('http://h.test/x')
    expect(operatorDirPrefix('https://h.test/a', true)).toBe('https://h.test/a/')
  })

  it('refuses userinfo, bad authorities, bad Hosts, other schemes and other target forms', () => {
    expect(key('h', 'http://u:p@h/x')).toMatchObject({ok: false, status: 400})
    expect(key('h', 'http:///x')).toMatchObject({ok: false, status: 400})
    expect(key('h', 'ftp://h/x')).toMatchObject({ok: false, status: 400})
    expect(key('a, b', '/x')).toMatchObject({ok: false, status: 400})
    expect(key('h:65536', '/x')).toMatchObject({ok: false, status: 400})
    expect(key('h:65535', '/x')).toBe('http://h:65535/x')
    expect(key('[::1]:99999', '/x')).toMatchObject({ok: false, status: 400})
    expect(key('a b', 'http://h/x')).toMatchObject({ok: false, status: 400})
    expect(key(undefined, '/x')).toMatchObject({ok: false, status: 400})
    expect(key('h', 'h:443')).toMatchObject({ok: false, status: 400})
    expect(key('h', '*')).toMatchObject({ok: false, status: 400})
    expect(resolveRequestTarget('h', '*', 'OPTIONS', c)).toEqual({ok: 'asterisk'})
  })

  it('with cache.sites, an absolute-form authority no site claims is 421 (origin-form is not affected)', () => {
    const sited = ConfigSchema.parse({cache: {sites: {'A.test:80': {}, 'b.test:8080': {query: 'ignore'}}}}).cache
    expect(resolveRequestTarget('x', 'http://c.test/', 'GET', sited)).toMatchObject({ok: false, status: 421})
    expect(resolveRequestTarget('x', 'http://A.test:80/', 'GET', sited)).toMatchObject({ok: true, key: 'http://a.test/'})
    expect(resolveRequestTarget('x', 'http://b.test:8080/p?q=1', 'GET', sited)).toMatchObject({ok: true, key: 'http://b.test:8080/p', target: '/p?q=1'})
    // A site with a port claims that port only; one without claims every port of the host.
    expect(resolveRequestTarget('x', 'http://b.test:9090/', 'GET', sited)).toMatchObject({ok: false, status: 421})
    expect(resolveRequestTarget('x', 'http://a.test:9090/', 'GET', sited)).toMatchObject({ok: true, key: 'http://a.test:9090/'})
    expect(resolveRequestTarget('c.test', '/p', 'GET', sited)).toMatchObject({ok: true, key: 'http://c.test/p'})
  })

  it('alias URLs of one object give one key for requests, purge/inspect/prefetch URLs and directory prefixes', () => {
    const stored = key('h.test', '/a/c~d')
    for (const alias of ['/a/./b/../c%7Ed', '/a/c%7ed', '/x/../a/c~d#f']) {
      expect(key('h.test', alias), alias).toBe(stored)
      expect(operatorCacheKey(`http://H.test${alias}`, c), alias).toBe(stored)
      expect(operatorCacheKey(`https://h.test:443${alias}`, c), alias).toBe(stored)
      expect(urlCacheKey(`http://h.test:80${alias}`, c), alias).toBe(stored)
    }
    expect(key('h.test', '/a%2Fc~d')).not.toBe(stored)
    expect(operatorDirPrefix('http://h.test/b/../a')).toBe('http://h.test/a/')
    expect(String(stored).startsWith(operatorDirPrefix('https://h.test:443/z/../a/')!)).toBe(true)
  })

  it('operator URLs: userinfo ignored, IDN hosts in ASCII, WHATWG rewrites not applied', () => {
    expect(operatorCacheKey('http://user@h.test/x', c)).toBe('http://h.test/x')
    expect(operatorCacheKey('http://b\u00fccher.example/x', c)).toBe('http://xn--bcher-kva.example/x')
    expect(operatorCacheKey('http://h.test/a\\b', c)).toBe(key('h.test', '/a\\b'))
    expect(operatorCacheKey('not a url', c)).toBeUndefined()
    expect(operatorCacheKey('http://bad_host!/x', c)).toBeUndefined()
  })
})
