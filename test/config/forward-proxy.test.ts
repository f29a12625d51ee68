// forwardProxy config: destination patterns (what they allow, what is refused at load with the key named), and the
// target resolution that forward mode adds to request-target.ts (believeUri for trusted peers, forward targets).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {allowedDestination, ForwardProxySchema, parseDestination} from '../../src/config/forward-proxy.js'
import {ConfigError, loadConfig} from '../../src/config/load.js'
import {ConfigSchema, type TavernConfigInput} from '../../src/config/schema.js'
import {FORWARD_GROUP, operatorCacheKey, operatorDirPrefix, resolveRequestTarget} from '../../src/proxy/request-target.js'
import {routeTable} from '../../src/proxy/route-table.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-fwd-config-'))
afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

async function problems(config: unknown): Promise<string[]> {
  const f = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`)
  fs.writeFileSync(f, JSON.stringify(config))
  const e = await loadConfig({file: f}).then(() => undefined, (error: unknown) => error)
  expect(e).toBeInstanceOf(ConfigError)
  return (e as ConfigError).problems
}

const dests = (...p: string[]) => ForwardProxySchema.parse({destinations: p}).destinations

describe('destination patterns', () => {
  it('a host without a port allows the scheme\'s default port only', () => {
    const d = dests('api.example.com')
    expect(allowedDestination(d, 'https', 'api.example.com')).toBeDefined()
    expect(allowedDestination(d, 'http', 'api.example.com')).toBeDefined()
    expect(allowedDestination(d, 'https', 'api.example.com:8443')).toBeUndefined()
    expect(allowedDestination(d, 'https', 'evil-api.example.com')).toBeUndefined()
    expect(allowedDestination(d, 'https', 'x.api.example.com')).toBeUndefined()
  })

  it('a port, or :* for any port', () => {
    const d = dests('a.test:8443', 'b.test:*')
    expect(allowedDestination(d, 'https', 'a.test:8443')).toBeDefined()
    expect(allowedDestination(d, 'https', 'a.test')).toBeUndefined()
    // http://a.test:443 is port 443, not 8443.
    expect(allowedDestination(d, 'http', 'a.test:443')).toBeUndefined()
    expect(allowedDestination(d, 'http', 'b.test:1')).toBeDefined()
    expect(allowedDestination(d, 'https', 'b.test')).toBeDefined()
  })

  it('*.suffix covers names below it, not the suffix itself', () => {
    const d = dests('*.example.org')
    expect(allowedDestination(d, 'https', 'a.example.org')).toBeDefined()
    expect(allowedDestination(d, 'https', 'a.b.example.org')).toBeDefined()
    expect(allowedDestination(d, 'https', 'example.org')).toBeUndefined()
    expect(allowedDestination(d, 'https', 'badexample.org')).toBeUndefined()
  })

  it('IP literals, IPv6 in brackets; case does not matter', () => {
    const d = dests('127.0.0.1:8080', '[::1]:*', 'CDN.Test')
    expect(allowedDestination(d, 'http', '127.0.0.1:8080')).toBeDefined()
    expect(allowedDestination(d, 'http', '[::1]:9')).toBeDefined()
    expect(allowedDestination(d, 'https', 'cdn.test')).toBeDefined()
  })

  it('no "any host" pattern, no wildcard elsewhere, no bare TLD wildcard, ports in range', () => {
    for (const bad of ['*', '', '*.*', 'a.*.test', '*.com', 'host:0', 'host:65536', 'host:x', 'a..b', '[zz]:1', 'http://a.test']) {
      expect(typeof parseDestination(bad), bad).toBe('string')
    }
  })
})

describe('bad forwardProxy config refuses to load, naming the key', () => {
  it('destinations, clients, connections, idleTimeout, tls.systemRoots', async () => {
    const p = await problems({forwardProxy: {enabled: true, destinations: ['*'], clients: ['10.0.0.0/33'], connections: 0, idleTimeout: 'soon', tls: {systemRoots: false}}})
    const text = p.join('\n')
    expect(text).toMatch(/forwardProxy\.destinations\[0\]: .*no "any host" pattern/)
    expect(text).toMatch(/forwardProxy\.clients\[0\]: expected an IP address or CIDR/)
    expect(text).toMatch(/forwardProxy\.connections: /)
    expect(text).toMatch(/forwardProxy\.idleTimeout: not a duration/)
    expect(text).toMatch(/forwardProxy\.tls\.systemRoots: systemRoots: false needs tls\.ca/)
  })
})

function config(input: TavernConfigInput) {
  return ConfigSchema.parse(input)
}

describe('target resolution in forward mode', () => {
  const c = config({forwardProxy: {enabled: true, clients: ['127.0.0.1'], destinations: ['api.test', 'plain.test:8080']}, sites: {shop: {hosts: ['shop.test']}, default: {hosts: []}}})
  const t = routeTable(c)
  const reading = {scheme: 'http' as const, forward: c.forwardProxy}

  it('an allowed https:// target is a forward target keyed under its own scheme and authority', () => {
    const r = resolveRequestTarget('whatever.test', 'https://API.test:443/a/../b?q=1', 'GET', c.cache, t, reading)
    expect(r).toMatchObject({ok: true, key: 'https://api.test/b?q=1', scheme: 'https', authority: 'api.test', target: '/b?q=1', forward: {origin: 'https://api.test'}})
    expect(r.ok === true && r.route.group).toBe(FORWARD_GROUP)
  })

  it('a destination not allowed is 403; a host a site claims stays a reverse-proxy request under the listener scheme', () => {
    expect(resolveRequestTarget(undefined, 'https://other.test/', 'GET', c.cache, t, reading)).toMatchObject({ok: false, status: 403})
    const shop = resolveRequestTarget(undefined, 'https://shop.test/x', 'GET', c.cache, t, reading)
    expect(shop).toMatchObject({ok: true, key: 'http://shop.test/x', site: 'shop'})
    expect(shop.ok === true && shop.forward).toBeUndefined()
  })

  it('origin-form for a forward destination is 421; for other hosts as before', () => {
    expect(resolveRequestTarget('plain.test:8080', '/x', 'GET', c.cache, t, reading)).toMatchObject({ok: false, status: 421})
    expect(resolveRequestTarget('other.test', '/x', 'GET', c.cache, t, reading)).toMatchObject({ok: true, key: 'http://other.test/x', site: 'default'})
  })

  it('without forward mode nothing changes: the scheme is the listener\'s', () => {
    expect(resolveRequestTarget(undefined, 'https://api.test/a', 'GET', c.cache, t, 'http')).toMatchObject({ok: true, key: 'http://api.test/a', site: 'default'})
  })

  it('believeUri (cluster peers, trusted clients): the absolute URI\'s scheme keys the request, routing stays the site\'s', () => {
    const r = resolveRequestTarget(undefined, 'https://shop.test:443/x', 'GET', c.cache, t, {scheme: 'http', believeUri: true})
    expect(r).toMatchObject({ok: true, key: 'https://shop.test/x', scheme: 'https', authority: 'shop.test', site: 'shop'})
    expect(r.ok === true && r.forward).toBeUndefined()
    // Memoised apart from the unbelieved reading of the same target.
    expect(resolveRequestTarget(undefined, 'https://shop.test:443/x', 'GET', c.cache, t, 'http')).toMatchObject({key: 'http://shop.test/x'})
  })

  it('operators name forward keys by their own scheme, other hosts as before', () => {
    expect(operatorCacheKey('https://api.test/a?b', c.cache, t, false, c.forwardProxy)).toBe('https://api.test/a?b')
    expect(operatorCacheKey('https://shop.test/a', c.cache, t, false, c.forwardProxy)).toBe('http://shop.test/a')
    expect(operatorCacheKey('https://api.test/a', c.cache, t, false)).toBe('http://api.test/a')
    expect(operatorDirPrefix('https://api.test/static', false, {config: c.forwardProxy, table: t})).toBe('https://api.test/static/')
    expect(operatorDirPrefix('https://api.test/static')).toBe('http://api.test/static/')
  })
})
