// The route table (Host → site, path → route) and policy resolution, from real parsed configs; config errors for
// the new keys. No servers.
import {describe, expect, it} from 'vitest'

import {compilePolicy, resolvePolicy} from '../../src/cache/policy-resolve.js'
import {evaluateRequestRules} from '../../src/cache/policy-request.js'
import {ConfigError, validateConfig} from '../../src/config/load.js'
import {resolveRequestTarget} from '../../src/proxy/request-target.js'
import {routeFor, routeTable, siteFor} from '../../src/proxy/route-table.js'

const cfg = (raw: Record<string, unknown>) => validateConfig({upstreams: ['http://127.0.0.1:9'], ...raw}, 'test')

function problems(raw: Record<string, unknown>): string[] {
  try {
    cfg(raw)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

const SITES = {
  upstreamGroups: {img: {upstreams: ['http://127.0.0.1:10']}, api: {upstreams: ['http://127.0.0.1:11'], connections: 7}},
  sites: {
    shop: {
      hosts: ['shop.test', '*.shop.test', 'shop.test:8443'],
      cache: {ttl: {200: '1h'}, query: 'sort'},
      routes: {
        api: {prefix: '/api/', group: 'api', cache: {ttl: {200: '1m'}, setCookie: 'bypass'}},
        apiv2: {prefix: '/api/v2/', group: 'api', cache: {forceTtl: true}},
        img: {prefix: '/img/', group: 'img'},
      },
    },
    blog: {hosts: ['Blog.Test:80'], group: 'img'},
    default: {cache: {defaultTtl: '5s'}},
  },
}

describe('route table', () => {
  const c = cfg(SITES)
  const t = routeTable(c)

  it('matches exact hosts, ports normalised, then wildcards (any depth, not the bare domain), then the default site', () => {
    expect(siteFor(t, 'shop.test')?.name).toBe('shop')
    expect(siteFor(t, 'shop.test:8080')?.name).toBe('shop') // a name without a port covers every port
    expect(siteFor(t, 'blog.test')?.name).toBe('blog') // Blog.Test:80 normalised
    expect(siteFor(t, 'a.shop.test')?.name).toBe('shop')
    expect(siteFor(t, 'a.b.shop.test:81')?.name).toBe('shop')
    expect(siteFor(t, 'xshop.test')?.name).toBe('default')
    expect(siteFor(t, 'other.test')?.name).toBe('default')
  })

  it('picks the longest matching prefix, else the site itself', () => {
    const shop = siteFor(t, 'shop.test')!
    expect(routeFor(shop, '/api/v2/x').name).toBe('apiv2')
    expect(routeFor(shop, '/api/v1').name).toBe('api')
    expect(routeFor(shop, '/api').name).toBeUndefined()
    expect(routeFor(shop, '/img/a.png').group).toBe('img')
    expect(routeFor(shop, '/').group).toBe('default')
  })

  it('resolves policy global ← site ← route, each key falling back on its own', () => {
    const shop = siteFor(t, 'shop.test')!
    const api = routeFor(shop, '/api/x').cache
    expect(api.ttl).toEqual({200: 60_000}) // route over site
    expect(api.setCookie).toBe('bypass')
    expect(api.query).toBe('sort') // from the site
    expect(api.maxVariants).toBe(c.cache.maxVariants) // from the global section
    expect(routeFor(shop, '/api/v2/x').cache.ttl).toEqual({200: 3_600_000}) // the site's ttl, the route's forceTtl
    expect(routeFor(shop, '/api/v2/x').cache.forceTtl).toBe(true)
    expect(siteFor(t, 'other.test')!.own.cache.defaultTtl).toBe(5000)
    // No overrides: the global section itself (no copy per route).
    expect(resolvePolicy(c.cache, {}, {})).toBe(c.cache)
  })

  it('keys follow the site and route key rules; the key is memoised per config', () => {
    const r = resolveRequestTarget('shop.test', '/p?b=1&a=2', 'GET', c.cache, t)
    expect(r).toMatchObject({ok: true, key: 'http://shop.test/p?a=2&b=1', site: 'shop'})
    expect(resolveRequestTarget('other.test', '/p?b=1&a=2', 'GET', c.cache, t)).toMatchObject({ok: true, key: 'http://other.test/p?b=1&a=2', site: 'default'})
  })

  it('without a default site, a Host no site claims is 421 in origin-form too', () => {
    const c2 = cfg({sites: {a: {hosts: ['a.test']}}})
    expect(resolveRequestTarget('b.test', '/x', 'GET', c2.cache, routeTable(c2))).toMatchObject({ok: false, status: 421})
    expect(resolveRequestTarget('a.test', '/x', 'GET', c2.cache, routeTable(c2))).toMatchObject({ok: true, site: 'a'})
  })

  it('without sites: one implicit route whose policy is the global section', () => {
    const c3 = cfg({})
    const t3 = routeTable(c3)
    expect(t3.implicit).toBe(true)
    const r = resolveRequestTarget('any.test', '/x', 'GET', c3.cache, t3)
    expect(r).toMatchObject({ok: true, site: undefined})
    expect(r.ok === true && r.route.cache).toBe(c3.cache)
    expect(compilePolicy(c3.cache).hasRequestRules).toBe(false)
  })

  it('the deprecated cache.sites keeps its meaning (origin-form served, absolute-form for other hosts 421)', () => {
    const c4 = cfg({cache: {sites: {'a.test': {query: 'ignore'}}}})
    const t4 = routeTable(c4)
    expect(resolveRequestTarget('a.test', '/x?q', 'GET', c4.cache, t4)).toMatchObject({ok: true, key: 'http://a.test/x', site: 'a.test'})
    expect(resolveRequestTarget('b.test', '/x?q', 'GET', c4.cache, t4)).toMatchObject({ok: true, key: 'http://b.test/x?q'})
    expect(resolveRequestTarget('b.test', 'http://b.test/x', 'GET', c4.cache, t4)).toMatchObject({ok: false, status: 421})
  })
})

describe('request rules', () => {
  const c = cfg({
    cache: {
      bypass: [{header: 'X-Debug'}, {query: 'preview', value: '1'}],
      noStore: [{cookie: 'cart'}],
      keyParts: [{header: 'X-Device'}, {cookie: 'currency'}],
    },
  })
  const p = compilePolicy(c.cache)
  const ev = (h: string[], target = '/x') => evaluateRequestRules(p, h, target)

  it('bypass on header presence and query value; noStore on a cookie; nothing otherwise', () => {
    expect(ev(['X-Debug', '']).decision).toEqual({bypass: 'bypass: header x-debug'})
    expect(ev([], '/x?preview=1').decision).toEqual({bypass: 'bypass: query preview=1'})
    expect(ev([], '/x?preview=0').decision).toBeUndefined()
    expect(ev(['Cookie', 'a=1; cart=9']).decision).toEqual({noStore: 'noStore: cookie cart'})
    expect(ev(['Cookie', 'a=1']).decision).toBeUndefined()
  })

  it('key parts are normalised and name their source; an absent value differs from an empty one', () => {
    expect(ev(['X-Device', '  Mobile   Phone ', 'Cookie', 'currency=EUR']).keyParts).toEqual(['h:x-device=mobile phone', 'c:currency=EUR'])
    expect(ev(['X-Device', 'mobile phone']).keyParts).toEqual(['h:x-device=mobile phone', 'c:currency'])
    expect(ev(['X-Device', '']).keyParts[0]).toBe('h:x-device=')
    expect(ev([]).keyParts[0]).toBe('h:x-device')
  })

  it('cookieBypass: any cookie, or only named ones', () => {
    const any = compilePolicy(cfg({cache: {cookieBypass: true}}).cache)
    expect(evaluateRequestRules(any, ['Cookie', 'x=1'], '/').decision?.bypass).toMatch(/cookieBypass/)
    expect(evaluateRequestRules(any, [], '/').decision).toBeUndefined()
    const named = compilePolicy(cfg({cache: {cookieBypass: ['session']}}).cache)
    expect(evaluateRequestRules(named, ['Cookie', 'x=1'], '/').decision).toBeUndefined()
    expect(evaluateRequestRules(named, ['Cookie', 'x=1; session=2'], '/').decision?.bypass).toBe('cookieBypass: cookie session')
  })

  it('the ttl table: exact code, then class, then any', () => {
    const t = compilePolicy(cfg({cache: {ttl: {200: '1h', '2xx': '1m', any: '5s'}}}).cache)
    expect([t.statusTtl(200), t.statusTtl(204), t.statusTtl(404)]).toEqual([3600, 60, 5])
  })
})

describe('config errors name the key and the problem', () => {
  it('unknown groups, duplicate hosts and prefixes, hostless sites, bad policy values, cache.sites with sites', () => {
    const p = problems({
      upstreamGroups: {g: {upstreams: ['http://127.0.0.1:1']}, default: {upstreams: ['http://127.0.0.1:2']}},
      cache: {sites: {'x.test': {}}},
      sites: {
        a: {hosts: ['a.test'], group: 'nope', routes: {r1: {prefix: '/x'}, r2: {prefix: '/x', group: 'missing'}}},
        b: {hosts: ['A.test']},
        c: {},
        d: {hosts: ['d.test'], cache: {ttl: {'2x0': '1h'}, setCookie: 'eat', sliceSize: '1MiB', maxTtll: 1}},
      },
    })
    const text = p.join('\n')
    expect(text).toContain('upstreamGroups.default:')
    expect(text).toContain('sites.d.cache.ttl.2x0')
    expect(text).toContain('sites.d.cache.setCookie')
    expect(text).toContain('sites.d.cache.sliceSize: cache.sliceSize applies to the whole cache')
    expect(text).toContain('sites.d.cache.maxTtll: unknown key')
  })

  it('one site per host, one route per prefix, every site but default claims a host', () => {
    const text = problems({sites: {a: {hosts: ['a.test'], routes: {r1: {prefix: '/x'}, r2: {prefix: '/x'}}}, b: {hosts: ['A.test']}, c: {}}}).join('\n')
    expect(text).toContain('sites.b.hosts[0]: a.test is already claimed by site a')
    expect(text).toContain('sites.a.routes.r2.prefix: prefix /x is already claimed by route r1')
    expect(text).toContain('sites.c.hosts: a site other than "default" must claim at least one host')
  })

  it('cross-key rules run once the sections are valid', () => {
    const text = problems({cache: {sites: {'x.test': {}}}, sites: {a: {hosts: ['a.test'], group: 'nope', routes: {r: {prefix: '/r', group: 'missing'}}}}}).join('\n')
    expect(text).toContain('sites.a.group: no upstream group named nope')
    expect(text).toContain('sites.a.routes.r.group: no upstream group named missing')
    expect(text).toContain('cache.sites: deprecated, and cannot be combined with sites')
  })

  it('groups validate their upstreams and upstream keys; they inherit the rest', () => {
    const text = problems({upstreamGroups: {g: {upstreams: ['ftp://x'], connections: 0, conections: 1}, h: {upstreams: []}}}).join('\n')
    expect(text).toContain('upstreamGroups.g.upstreams[0]')
    expect(text).toContain('upstreamGroups.g.connections')
    expect(text).toContain('upstreamGroups.g.conections: unknown key')
    expect(text).toContain('upstreamGroups.h.upstreams: a group needs at least one upstream')
    const c = cfg({upstream: {connections: 9}, upstreamGroups: {g: {upstreams: ['http://127.0.0.1:1'], keyShare: 0.5}}})
    expect(c.upstreamGroups.g!.upstream).toEqual({keyShare: 0.5})
  })
})
