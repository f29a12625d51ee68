// Request sanitising (strip list, forwarding trust) and the upstream forwarding fields, on real node:http requests.
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ConfigSchema} from '../../../src/config/schema.js'
import {AllowList} from '../../../src/util/cidr.js'
import {requestPolicy, sanitizeRequestHeaders, upstreamRequestHeaders} from '../../../src/proxy/origin/forward-headers.js'
import {createContext, type RequestContext} from '../../../src/proxy/context.js'
import {NO_HOOKS} from '../../../src/proxy/hooks.js'
import {getAll} from '../../../src/util/raw-headers.js'

const server = (over: Record<string, unknown> = {}) => ConfigSchema.parse({server: over}).server

describe('sanitizeRequestHeaders', () => {
  const raw = ['Host', 'h.test', 'X-Original-URL', '/admin', 'x-forwarded-for', '6.6.6.6', 'Forwarded', 'for=6.6.6.6', 'X-Real-IP', '6.6.6.6', 'Accept', '*/*']

  it('from an untrusted peer: strip list and forwarding fields go, the rest keeps its order and case', () => {
    expect(sanitizeRequestHeaders(raw, requestPolicy(server()), false, 'h.test')).toEqual(['Host', 'h.test', 'Accept', '*/*'])
  })

  it('from a trusted proxy: only the strip list goes', () => {
    expect(sanitizeRequestHeaders(raw, requestPolicy(server()), true, 'h.test')).toEqual(['Host', 'h.test', 'x-forwarded-for', '6.6.6.6', 'Forwarded', 'for=6.6.6.6', 'X-Real-IP', '6.6.6.6', 'Accept', '*/*'])
  })

  it('Host becomes the authority the request is keyed under (added when missing); an untouched list is returned as is', () => {
    expect(sanitizeRequestHeaders(['Accept', 'a', 'HOST', 'Attacker.test'], requestPolicy(server()), false, 'victim.test')).toEqual(['Accept', 'a', 'HOST', 'victim.test'])
    expect(sanitizeRequestHeaders(['Accept', 'a'], requestPolicy(server()), false, 'victim.test')).toEqual(['Accept', 'a', 'Host', 'victim.test'])
    const clean = ['Host', 'h.test', 'Accept', 'a', 'X-Requested-With', 'x']
    expect(sanitizeRequestHeaders(clean, requestPolicy(server()), false, 'h.test')).toBe(clean)
  })

  it('the configured strip list replaces the default one (names case-insensitive)', () => {
    const p = requestPolicy(server({stripRequestHeaders: ['x-internal']}))
    expect(sanitizeRequestHeaders(['Host', 'h', 'X-INTERNAL', '1', 'X-Original-URL', '/a'], p, false, 'h')).toEqual(['Host', 'h', 'X-Original-URL', '/a'])
  })

  it('config refuses stripping fields that name the resource or frame the body, and bad CIDRs', () => {
    expect(ConfigSchema.safeParse({server: {stripRequestHeaders: ['Host']}}).success).toBe(false)
    expect(ConfigSchema.safeParse({server: {stripRequestHeaders: ['content-length']}}).success).toBe(false)
    expect(ConfigSchema.safeParse({server: {stripRequestHeaders: ['bad name']}}).success).toBe(false)
    expect(ConfigSchema.safeParse({server: {trustedProxies: ['10.0.0.0/33']}}).success).toBe(false)
    expect(ConfigSchema.parse({}).server.trustedProxies).toEqual([])
  })
})

describe('upstream forwarding fields and ctx.clientIp', () => {
  let srv: http.Server
  let port = 0
  let handle: (ctx: RequestContext) => unknown
  beforeAll(async () => {
    srv = http.createServer((req, res) => {
      const ctx = createContext(req, res, NO_HOOKS)
      let out: unknown
      try {
        out = handle(ctx)
      } catch (error) {
        out = String(error)
      }
      res.end(JSON.stringify(out))
    })
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    port = (srv.address() as AddressInfo).port
  })
  afterAll(() => new Promise<void>((r) => srv.close(() => r())))

  async function probe(headers: Record<string, string>, fn: (ctx: RequestContext) => unknown): Promise<unknown> {
    handle = fn
    const res = await fetch(`http://127.0.0.1:${port}/x`, {headers})
    return JSON.parse(await res.text())
  }

  /** Admit the way the pipeline does (trust list, then sanitise), then build the upstream fields. */
  function forward(trusted: string[]) {
    return (ctx: RequestContext) => {
      const policy = requestPolicy(server({trustedProxies: trusted}))
      ctx.trustedProxies = policy.trustedProxies
      ctx.headers = sanitizeRequestHeaders(ctx.headers, policy, ctx.peerTrusted, 'h.test')
      const h = upstreamRequestHeaders(ctx, 'tavern')
      return {xff: getAll(h, 'x-forwarded-for'), fwd: getAll(h, 'forwarded'), proto: getAll(h, 'x-forwarded-proto'), xfh: getAll(h, 'x-forwarded-host'), clientIp: ctx.clientIp, trusted: ctx.peerTrusted}
    }
  }

  it('untrusted peer: our values only; clientIp is the peer', async () => {
    const r = await probe({'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', forwarded: 'for=6.6.6.6'}, forward([]))
    expect(r).toEqual({xff: ['127.0.0.1'], fwd: ['for=127.0.0.1;host=h.test;proto=http'], proto: ['http'], xfh: ['h.test'], clientIp: '127.0.0.1', trusted: false})
  })

  it('trusted peer: chains extended, proto/host kept; clientIp is the nearest untrusted address in the chain', async () => {
    const r = await probe({'x-forwarded-for': '203.0.113.5, 10.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'www.h.test', forwarded: 'for=203.0.113.5'}, forward(['127.0.0.1', '10.0.0.0/8']))
    expect(r).toEqual({
      xff: ['203.0.113.5, 10.0.0.2, 127.0.0.1'],
      fwd: ['for=203.0.113.5, for=127.0.0.1;host=h.test;proto=http'],
      proto: ['https'],
      xfh: ['www.h.test'],
      clientIp: '203.0.113.5',
      trusted: true,
    })
  })

  it('clientIp: a spoofed left part is not believed past the first untrusted hop; Forwarded is used without XFF; garbage stops the walk', async () => {
    const trust = (ctx: RequestContext) => {
      ctx.trustedProxies = new AllowList(['127.0.0.1'])
      return ctx.clientIp
    }
    expect(await probe({'x-forwarded-for': '1.1.1.1, 198.51.100.7'}, trust)).toBe('198.51.100.7')
    expect(await probe({forwarded: 'for="[2001:db8::1]:4711";proto=https, for=127.0.0.1'}, trust)).toBe('2001:db8::1')
    expect(await probe({'x-forwarded-for': '198.51.100.7:5555'}, trust)).toBe('198.51.100.7')
    expect(await probe({'x-forwarded-for': 'unknown, 127.0.0.1'}, trust)).toBe('127.0.0.1')
    expect(await probe({}, trust)).toBe('127.0.0.1')
  })
})
