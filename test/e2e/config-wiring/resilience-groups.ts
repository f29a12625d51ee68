/**
 * Config-wiring rows for rate limits and upstream resilience (see groups.ts): each starts its daemon with a
 * non-default value and fails if the daemon used the default instead.
 */
import net from 'node:net'

import {expect} from 'vitest'

import {startBlackhole} from '../../helpers/blackhole.js'
import type {WiringContext, WiringGroup} from '../../helpers/config-keys.js'
import type {HttpResult} from '../../helpers/daemon.js'
import {uniquePath} from '../../helpers/origin.js'
import {type RedisServer, startRedis} from '../../helpers/redis.js'
import {waitFor} from '../../helpers/wait.js'

/** A fresh no-store path under `prefix` on the main origin. */
function path(ctx: Pick<WiringContext, 'origin'>, prefix: string, cache = 'no-store'): string {
  const p = uniquePath(prefix)
  ctx.origin.route(p, {headers: {'Cache-Control': cache}, body: 'ok'})
  return p
}

async function statuses(ctx: WiringContext, p: string, n: number, opts: Parameters<WiringContext['daemon']['request']>[1] = {}): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await ctx.daemon.request(p, opts)).status)
  return out
}

/** Whether a raw request's connection closed without any answer. */
function droppedWithoutAnswer(port: number, p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`))
    let got = ''
    s.on('data', (d) => (got += d.toString()))
    s.on('error', () => {})
    s.on('close', () => resolve(got === ''))
    s.setTimeout(5000, () => s.destroy())
  })
}

const rateLimitGroup: WiringGroup = {
  name: 'rate limits',
  config: () => ({
    rateLimits: {
      localMaxKeys: 1,
      rules: [
        {name: 'rl-fixed', algorithm: 'fixed-window', limit: 2, window: '1h', match: {paths: ['/fixed-']}},
        {name: 'rl-burst', limit: 1, window: '1h', burst: 3, match: {paths: ['/burst-']}},
        {name: 'rl-user', limit: 1, window: '1h', key: [{header: 'X-User'}], match: {paths: ['/user-']}},
        {name: 'rl-api', limit: 1, window: '1h', key: [{apiKey: {header: 'X-Api-Key', query: 'api_key'}}], match: {paths: ['/api-']}},
        {name: 'rl-route', limit: 1, window: '1h', key: ['route'], match: {paths: ['/route-']}},
        {name: 'rl-missing', limit: 1, window: '1h', key: [{header: 'X-Tenant'}], ifMissing: 'share', match: {paths: ['/missing-']}},
        {name: 'rl-post', limit: 1, window: '1h', match: {methods: ['POST'], paths: ['/post-']}},
        {name: 'rl-routes', limit: 1, window: '1h', match: {routes: ['no-such-route'], paths: ['/routes-']}},
        {name: 'rl-drop', limit: 1, window: '1h', action: 'drop', match: {paths: ['/drop-']}},
        {name: 'rl-delay', limit: 1, window: '500ms', action: 'delay', maxDelay: '50ms', match: {paths: ['/delay-']}},
        {name: 'rl-queue', limit: 1, window: '1s', action: 'delay', maxDelay: '5s', maxQueue: 1, match: {paths: ['/queue-']}},
        {name: 'rl-status', limit: 1, window: '1h', status: 503, match: {paths: ['/status-']}},
        {name: 'rl-quiet', limit: 5, window: '1h', headers: false, match: {paths: ['/quiet-']}},
        {name: 'rl-origin', limit: 1, window: '1h', exemptCacheHits: true, match: {paths: ['/hits-']}},
        {name: 'rl-keys', limit: 1, window: '1h', key: [{header: 'X-U'}], match: {paths: ['/keys-']}},
      ],
    },
  }),
  rows: [
    {
      key: 'rateLimits.rules[].name',
      expect: 'the policy is named rl-fixed in RateLimit-Policy',
      async check(ctx) {
        expect((await ctx.daemon.request(path(ctx, 'fixed'))).header('ratelimit-policy')).toMatch(/^"rl-fixed";/)
      },
    },
    {
      key: 'rateLimits.rules[].window',
      expect: '1h: RateLimit-Policy says w=3600 (default 1s)',
      async check(ctx) {
        expect((await ctx.daemon.request(path(ctx, 'fixed'))).header('ratelimit-policy')).toBe('"rl-fixed";q=2;w=3600')
      },
    },
    {
      key: 'rateLimits.rules[].limit',
      expect: '2: two requests pass, the third is refused',
      async check(ctx) {
        expect(await statuses(ctx, path(ctx, 'fixed'), 3, {localAddress: '127.0.0.5'})).toEqual([200, 200, 429])
      },
    },
    {
      key: 'rateLimits.rules[].algorithm',
      expect: 'fixed-window: Retry-After runs to the end of the epoch-aligned hour (token bucket: 1800 s, one token at 2/h)',
      async check(ctx) {
        const r = (await ctx.daemon.request(path(ctx, 'fixed'), {localAddress: '127.0.0.5'})) as HttpResult
        expect(r.status).toBe(429)
        const toHour = 3600 - Math.floor((Date.now() / 1000) % 3600)
        expect(Math.abs(Number(r.header('retry-after')) - toHour)).toBeLessThanOrEqual(2)
      },
    },
    {
      key: 'rateLimits.rules[].burst',
      expect: '3 with limit 1: three requests at once pass, the fourth is refused (default burst = limit: the second)',
      async check(ctx) {
        expect(await statuses(ctx, path(ctx, 'burst'), 4)).toEqual([200, 200, 200, 429])
      },
    },
    {
      key: 'rateLimits.rules[].key[].header',
      expect: 'X-User: each user has its own limit (default: the client IP, shared)',
      async check(ctx) {
        const p = path(ctx, 'user')
        expect(await statuses(ctx, p, 2, {headers: {'X-User': 'a'}})).toEqual([200, 429])
        expect(await statuses(ctx, p, 1, {headers: {'X-User': 'b'}})).toEqual([200])
      },
    },
    {
      key: 'rateLimits.rules[].key[].apiKey.header',
      expect: 'X-Api-Key: each key has its own limit',
      async check(ctx) {
        const p = path(ctx, 'api')
        expect(await statuses(ctx, p, 2, {headers: {'X-Api-Key': 'k1'}})).toEqual([200, 429])
        expect(await statuses(ctx, p, 1, {headers: {'X-Api-Key': 'k2'}})).toEqual([200])
      },
    },
    {
      key: 'rateLimits.rules[].key[].apiKey.query',
      expect: 'api_key: the query parameter is the same key as the header',
      async check(ctx) {
        const p = path(ctx, 'api')
        expect(await statuses(ctx, `${p}?api_key=k3`, 1)).toEqual([200])
        expect(await statuses(ctx, p, 1, {headers: {'X-Api-Key': 'k3'}})).toEqual([429])
      },
    },
    {
      key: 'rateLimits.rules[].key[]',
      expect: 'route: two client addresses share one limit (default: per IP)',
      async check(ctx) {
        const p = path(ctx, 'route')
        expect(await statuses(ctx, p, 1, {localAddress: '127.0.0.2'})).toEqual([200])
        expect(await statuses(ctx, p, 1, {localAddress: '127.0.0.3'})).toEqual([429])
      },
    },
    {
      key: 'rateLimits.rules[].ifMissing',
      expect: 'share: requests without X-Tenant share one bucket (default skip: not limited)',
      async check(ctx) {
        expect(await statuses(ctx, path(ctx, 'missing'), 2)).toEqual([200, 429])
      },
    },
    {
      key: 'rateLimits.rules[].match.methods',
      expect: 'POST: GETs are not limited, the second POST is',
      async check(ctx) {
        const p = path(ctx, 'post')
        expect(await statuses(ctx, p, 3)).toEqual([200, 200, 200])
        expect(await statuses(ctx, p, 2, {method: 'POST', body: 'x'})).toEqual([200, 429])
      },
    },
    {
      key: 'rateLimits.rules[].match.paths',
      expect: 'the rules cover only their prefixes: /other is never limited',
      async check(ctx) {
        ctx.origin.route('/other', {headers: {'Cache-Control': 'no-store'}, body: 'free'})
        expect(await statuses(ctx, '/other', 4)).toEqual([200, 200, 200, 200])
      },
    },
    {
      key: 'rateLimits.rules[].match.routes',
      expect: 'a route the request is not on: not limited (default: every route)',
      async check(ctx) {
        expect(await statuses(ctx, path(ctx, 'routes'), 3)).toEqual([200, 200, 200])
      },
    },
    {
      key: 'rateLimits.rules[].action',
      expect: 'drop: the second request gets no answer at all (default: 429)',
      async check(ctx) {
        const p = path(ctx, 'drop')
        expect(await droppedWithoutAnswer(ctx.daemon.port, p)).toBe(false)
        expect(await droppedWithoutAnswer(ctx.daemon.port, p)).toBe(true)
      },
    },
    {
      key: 'rateLimits.rules[].maxDelay',
      expect: '50ms with a 500 ms turn: the second request is refused (default 1s: held, then served)',
      async check(ctx) {
        expect(await statuses(ctx, path(ctx, 'delay'), 2)).toEqual([200, 429])
      },
    },
    {
      key: 'rateLimits.rules[].maxQueue',
      expect: '1: of three at once, one passes, one is held, one is refused (default 1024: both held)',
      async check(ctx) {
        const p = path(ctx, 'queue')
        const rs = await Promise.all([0, 1, 2].map(() => ctx.daemon.request(p)))
        expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 429])
      },
    },
    {
      key: 'rateLimits.rules[].status',
      expect: '503: the refusal is a 503 (default 429)',
      async check(ctx) {
        expect(await statuses(ctx, path(ctx, 'status'), 2)).toEqual([200, 503])
      },
    },
    {
      key: 'rateLimits.rules[].headers',
      expect: 'false: no RateLimit-Policy on answers of that rule (default: sent)',
      async check(ctx) {
        expect((await ctx.daemon.request(path(ctx, 'quiet'))).header('ratelimit-policy')).toBeUndefined()
      },
    },
    {
      key: 'rateLimits.rules[].exemptCacheHits',
      expect: 'true: hits of a cached object are not counted, a second origin request is',
      async check(ctx) {
        const p = path(ctx, 'hits', 'max-age=600')
        expect(await statuses(ctx, p, 3)).toEqual([200, 200, 200])
        expect(await statuses(ctx, path(ctx, 'hits'), 1)).toEqual([429])
      },
    },
    {
      key: 'rateLimits.localMaxKeys',
      expect: '1: a second client key pushes the first out, which starts again with a full quota (default: remembered)',
      async check(ctx) {
        const p = path(ctx, 'keys')
        expect(await statuses(ctx, p, 1, {headers: {'X-U': 'u1'}})).toEqual([200])
        expect(await statuses(ctx, p, 1, {headers: {'X-U': 'u2'}})).toEqual([200])
        expect(await statuses(ctx, p, 1, {headers: {'X-U': 'u1'}})).toEqual([200])
      },
    },
  ],
}

const resilienceGroup: WiringGroup = {
  name: 'upstream resilience',
  origins: {beta: {}, backup: {}},
  config: (ctx) => ({
    upstreams: [
      {url: ctx.origin.url, name: 'alpha'},
      {url: ctx.origins.beta!.url, name: 'beta'},
      {url: ctx.origins.backup!.url, name: 'spare', backup: true},
    ],
    upstream: {
      outlier: {consecutive5xx: 2, baseEjection: '2s', maxEjection: '4s'},
      breaker: {enabled: false},
      retry: {attempts: 1},
    },
  }),
  start: {upstream: false},
  rows: [
    {
      key: 'upstreams[].backup',
      expect: 'true: the backup gets nothing while the primaries are up (default: a third of the traffic)',
      async check(ctx) {
        const p = uniquePath('spare')
        for (const o of [ctx.origin, ctx.origins.beta!, ctx.origins.backup!]) o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'x'})
        expect(await statuses(ctx, p, 6)).toEqual([200, 200, 200, 200, 200, 200])
        expect(ctx.origins.backup!.countFor(p)).toBe(0)
      },
    },
    {
      key: 'upstream.outlier.consecutive5xx',
      expect: '2: two 500s in a row eject the member (default 5)',
      async check(ctx) {
        const p = uniquePath('o5xx')
        ctx.origin.route(p, {status: 500, body: 'broken'})
        ctx.origins.beta!.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'ok'})
        await statuses(ctx, p, 4)
        const s = await ctx.daemon.status()
        expect((s.upstreams as Array<{name: string; ejected?: boolean}>).find((u) => u.name === 'alpha')?.ejected).toBe(true)
      },
    },
    {
      key: 'upstream.breaker.enabled',
      expect: 'false: status shows no breaker for the members (default: one each)',
      async check(ctx) {
        const s = await ctx.daemon.status()
        expect((s.upstreams as Array<{breaker?: unknown}>).every((u) => u.breaker === undefined)).toBe(true)
      },
    },
    {
      key: 'upstream.outlier.baseEjection',
      expect: '2s: the ejected member returns within about 2 s (default 30 s)',
      async check(ctx) {
        const s = await ctx.daemon.status()
        const until = (s.upstreams as Array<{name: string; ejectedUntil?: number}>).find((u) => u.name === 'alpha')?.ejectedUntil
        expect(until).toBeDefined()
        expect(until! - Date.now()).toBeLessThan(2500)
        await waitFor(async () => ((await ctx.daemon.status()).upstreams as Array<{name: string; healthy: boolean}>).every((u) => u.healthy), {timeoutMs: 8000, message: 'alpha back'})
      },
      timeoutMs: 15_000,
    },
  ],
}

type Member = {name: string; probeUp?: boolean; ewmaMs?: number}

async function member(ctx: WiringContext, name: string): Promise<Member> {
  return ((await ctx.daemon.status()).upstreams as Member[]).find((u) => u.name === name)!
}

/** Log lines of the daemon about `upstream` with message `msg`. */
function logsOf(ctx: WiringContext, upstream: string, msg: string): Array<Record<string, unknown>> {
  return ctx.daemon.logLines().filter((l) => l.upstream === upstream && l.msg === msg)
}

const healthCheckGroup: WiringGroup = {
  name: 'active health checks',
  origins: {beta: {}, gamma: {}},
  setup: async (ctx) => {
    ctx.origin.route('/hc', {status: 204})
    ctx.origins.beta!.route('/hc', {status: 200})
    ctx.origins.gamma!.route('/hc', {status: 204, delayMs: 600})
  },
  config: (ctx) => ({
    upstreams: [
      {url: ctx.origin.url, name: 'alpha'},
      {url: ctx.origins.beta!.url, name: 'beta'},
      {url: ctx.origins.gamma!.url, name: 'gamma'},
    ],
    upstream: {healthCheck: {path: '/hc', method: 'HEAD', host: 'probe.example', headers: {'X-Probe': 'yes'}, interval: '200ms', timeout: '150ms', expectStatus: '204', rise: 3, fall: 2, initial: 'down'}},
  }),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.healthCheck.path',
      expect: '/hc is probed (default /)',
      async check(ctx) {
        await ctx.origin.waitForCount('/hc', 1, 5000)
      },
    },
    {
      key: 'upstream.healthCheck.method',
      expect: 'HEAD (default GET)',
      async check(ctx) {
        expect(ctx.origin.requestsFor('/hc')[0]!.method).toBe('HEAD')
      },
    },
    {
      key: 'upstream.healthCheck.host',
      expect: 'Host: probe.example (default: the member URL host)',
      async check(ctx) {
        expect(ctx.origin.requestsFor('/hc')[0]!.header('host')).toBe('probe.example')
      },
    },
    {
      key: 'upstream.healthCheck.headers',
      expect: 'X-Probe: yes on every probe',
      async check(ctx) {
        expect(ctx.origin.requestsFor('/hc')[0]!.header('x-probe')).toBe('yes')
      },
    },
    {
      key: 'upstream.healthCheck.interval',
      expect: '200ms between probes of one member (default 5s)',
      async check(ctx) {
        await ctx.origin.waitForCount('/hc', 3, 5000)
        const [a, b] = ctx.origin.requestsFor('/hc').slice(-2)
        expect(b!.receivedAt - a!.receivedAt).toBeLessThan(2000)
      },
    },
    {
      key: 'upstream.healthCheck.rise',
      expect: '3: alpha comes up after three passing probes (default 2)',
      async check(ctx) {
        await waitFor(() => logsOf(ctx, 'alpha', 'upstream healthy again (health check)').length > 0, {timeoutMs: 5000, message: 'alpha up'})
        expect(String(logsOf(ctx, 'alpha', 'upstream healthy again (health check)')[0]!.reason)).toMatch(/^3 probe/)
      },
    },
    {
      key: 'upstream.healthCheck.expectStatus',
      expect: '204: beta answering 200 stays down while alpha (204) is up (default 200-399: both up)',
      async check(ctx) {
        expect((await member(ctx, 'alpha')).probeUp).toBe(true)
        expect((await member(ctx, 'beta')).probeUp).toBe(false)
      },
    },
    {
      key: 'upstream.healthCheck.initial',
      expect: 'down: beta, never passing, was never up — no "down" transition is logged for it (default up: it is)',
      async check(ctx) {
        expect(logsOf(ctx, 'beta', 'upstream down (health check)')).toEqual([])
      },
    },
    {
      key: 'upstream.healthCheck.timeout',
      expect: '150ms: gamma answering 204 after 600 ms never comes up (default 2s is longer than the interval: refused)',
      async check(ctx) {
        expect((await member(ctx, 'gamma')).probeUp).toBe(false)
      },
    },
    {
      key: 'upstream.healthCheck.fall',
      expect: '2: alpha goes down after two failing probes (default 3)',
      async check(ctx) {
        ctx.origin.route('/hc', {status: 500})
        await waitFor(() => logsOf(ctx, 'alpha', 'upstream down (health check)').length > 0, {timeoutMs: 5000, message: 'alpha down'})
        expect(String(logsOf(ctx, 'alpha', 'upstream down (health check)')[0]!.reason)).toMatch(/^2 probe/)
      },
    },
  ],
}

const hashHeaderGroup: WiringGroup = {
  name: 'consistent hashing by header; EWMA settings',
  origins: {beta: {}},
  config: (ctx) => ({
    upstreams: [
      {url: ctx.origin.url, name: 'alpha'},
      {url: ctx.origins.beta!.url, name: 'beta'},
    ],
    upstream: {balance: {algorithm: 'consistent-hash', hashKey: {header: 'X-User'}, ewmaInitial: '500ms', ewmaDecay: '1ms'}},
  }),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.balance.ewmaInitial',
      expect: '500ms: a member without samples shows ewma 500 (default 50)',
      async check(ctx) {
        expect((await member(ctx, 'alpha')).ewmaMs).toBeCloseTo(500, 0)
      },
    },
    {
      key: 'upstream.balance.algorithm',
      expect: 'consistent-hash: one path keeps one member (default round-robin alternates)',
      async check(ctx) {
        const p = uniquePath('ring')
        for (const o of [ctx.origin, ctx.origins.beta!]) o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'x'})
        await statuses(ctx, p, 6)
        expect([ctx.origin.countFor(p), ctx.origins.beta!.countFor(p)].sort()).toEqual([0, 6])
      },
    },
    {
      key: 'upstream.balance.hashKey.header',
      expect: 'X-User: eight paths of one user land on one member (default: hashed by URL, spread)',
      async check(ctx) {
        const ps = Array.from({length: 8}, () => uniquePath('user'))
        for (const p of ps) for (const o of [ctx.origin, ctx.origins.beta!]) o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'x'})
        for (const p of ps) await ctx.daemon.request(p, {headers: {'X-User': 'someone'}})
        const onAlpha = ps.filter((p) => ctx.origin.countFor(p) === 1).length
        expect([0, 8]).toContain(onAlpha)
      },
    },
    {
      // The key's scalar alternative 'key' (hash the cache key) is what an absent hashKey means, so no row can tell
      // it from the default; the object alternatives can: this row fails if the daemon ignored hashKey altogether.
      key: 'upstream.balance.hashKey',
      expect: 'a {header} source replaces the cache key: one path, sixteen users, both members used (default: one path, one member)',
      async check(ctx) {
        const p = uniquePath('users')
        for (const o of [ctx.origin, ctx.origins.beta!]) o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'x'})
        for (let i = 0; i < 16; i++) await ctx.daemon.request(p, {headers: {'X-User': `user-${i}`}})
        expect(ctx.origin.countFor(p)).toBeGreaterThan(0)
        expect(ctx.origins.beta!.countFor(p)).toBeGreaterThan(0)
      },
    },
    {
      key: 'upstream.balance.ewmaDecay',
      expect: '1ms: a 900 ms answer is forgotten at once, the EWMA is back near ewmaInitial 500 (default 10s: stays near 900)',
      async check(ctx) {
        const p = uniquePath('slow')
        for (const o of [ctx.origin, ctx.origins.beta!]) o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'x', delayMs: 900})
        await ctx.daemon.request(p)
        const m = ctx.origin.countFor(p) === 1 ? 'alpha' : 'beta'
        await new Promise((r) => setTimeout(r, 100))
        expect((await member(ctx, m)).ewmaMs).toBeLessThan(700)
      },
    },
  ],
}

const hashCookieGroup: WiringGroup = {
  name: 'consistent hashing by cookie',
  origins: {beta: {}},
  config: (ctx) => ({
    upstreams: [
      {url: ctx.origin.url, name: 'alpha'},
      {url: ctx.origins.beta!.url, name: 'beta'},
    ],
    upstream: {balance: {algorithm: 'consistent-hash', hashKey: {cookie: 'sid'}}},
  }),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.balance.hashKey.cookie',
      expect: 'sid: eight paths of one session land on one member (default: hashed by URL, spread)',
      async check(ctx) {
        const ps = Array.from({length: 8}, () => uniquePath('sid'))
        for (const p of ps) for (const o of [ctx.origin, ctx.origins.beta!]) o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'x'})
        for (const p of ps) await ctx.daemon.request(p, {headers: {Cookie: 'a=1; sid=abc'}})
        const onAlpha = ps.filter((p) => ctx.origin.countFor(p) === 1).length
        expect([0, 8]).toContain(onAlpha)
      },
    },
  ],
}

/** Breaker transitions of `upstream`, from the log. */
function transitions(ctx: WiringContext, upstream: string): string[] {
  return ctx.daemon.logLines().filter((l) => l.upstream === upstream && typeof l.to === 'string').map((l) => String(l.to))
}

const breakerGroup: WiringGroup = {
  name: 'circuit breaker',
  origins: {beta: {}},
  setup: async (ctx) => {
    ctx.vars.bad = true
    ctx.origin.route('/brk', () => (ctx.vars.bad ? {status: 503, body: 'broken'} : {headers: {'Cache-Control': 'no-store'}, body: 'ok'}))
    ctx.origins.beta!.route('/brk', {headers: {'Cache-Control': 'no-store'}, body: 'ok'})
  },
  config: (ctx) => ({
    upstreams: [
      {url: ctx.origin.url, name: 'alpha'},
      {url: ctx.origins.beta!.url, name: 'beta'},
    ],
    upstream: {outlier: {enabled: false}, retry: {attempts: 1}, breaker: {window: '30s', minRequests: 3, recoveryTimeout: '1s', halfOpenMaxRequests: 1, rampUp: 0}},
  }),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.breaker.minRequests',
      expect: '3: three failures of three open the breaker (default 20: still closed)',
      async check(ctx) {
        await statuses(ctx, '/brk', 6)
        expect(transitions(ctx, 'alpha')).toEqual(['open'])
      },
    },
    {
      key: 'upstream.breaker.recoveryTimeout',
      expect: '1s: half-open within about a second (default 10 s)',
      async check(ctx) {
        ctx.vars.bad = false
        const t0 = Date.now()
        await waitFor(async () => {
          await ctx.daemon.request('/brk')
          return transitions(ctx, 'alpha').includes('half-open')
        }, {timeoutMs: 4000, intervalMs: 50, message: 'half-open'})
        expect(Date.now() - t0).toBeLessThan(4000)
      },
    },
    {
      key: 'upstream.breaker.rampUp',
      expect: '0: a good probe closes the breaker at once, no ramp-up (default 10 s of ramp-up)',
      async check(ctx) {
        await waitFor(async () => {
          await ctx.daemon.request('/brk')
          return transitions(ctx, 'alpha').includes('closed')
        }, {timeoutMs: 4000, intervalMs: 50, message: 'closed'})
        expect(transitions(ctx, 'alpha')).toEqual(['open', 'half-open', 'closed'])
      },
    },
    {
      key: 'upstream.breaker.halfOpenMaxRequests',
      expect: '1: one good probe closed it, as the transition says (default 3: three probes)',
      async check(ctx) {
        const closed = ctx.daemon.logLines().find((l) => l.upstream === 'alpha' && l.to === 'closed')
        expect(JSON.stringify(closed)).toMatch(/"1 probe\(s\) succeeded"/)
      },
    },
  ],
}

const timeoutsGroup: WiringGroup = {
  name: 'per-group timeouts',
  setup: async (ctx) => {
    ctx.origin.route('/ttfb', {headers: {'Cache-Control': 'no-store'}, body: 'late', delayMs: 4000})
    ctx.origin.route('/idle', {headers: {'Cache-Control': 'no-store'}, body: 'x'.repeat(4), chunkSize: 2, chunkDelayMs: 4000})
  },
  config: () => ({upstream: {retry: {attempts: 1}, timeouts: {ttfb: '1s', bodyIdle: '1s'}, headersTimeout: '20s'}}),
  rows: [
    {
      key: 'upstream.timeouts.ttfb',
      expect: '1s: no head within about a second is a 504 well before the 4 s answer (default: headersTimeout 20 s here)',
      async check(ctx) {
        const r = await ctx.daemon.request('/ttfb')
        expect(r.status).toBe(504)
        expect(r.endedAt - r.startedAt).toBeLessThan(3500)
      },
    },
    {
      key: 'upstream.timeouts.bodyIdle',
      expect: '1s: a 4 s pause inside the body cuts the answer (default 60 s)',
      async check(ctx) {
        const r = await ctx.daemon.request('/idle', {allowIncomplete: true})
        expect(r.complete).toBe(false)
        expect(r.endedAt - r.startedAt).toBeLessThan(3900)
      },
    },
  ],
}

const totalTimeoutGroup: WiringGroup = {
  name: 'total timeout',
  setup: async (ctx) => {
    ctx.origin.route('/total', {headers: {'Cache-Control': 'no-store'}, body: 'late', delayMs: 1500})
  },
  config: () => ({upstream: {retry: {attempts: 1}, timeouts: {total: '600ms'}}}),
  rows: [
    {
      key: 'upstream.timeouts.total',
      expect: '600ms: an answer 1.5 s away is a 504 (default: none, 200)',
      async check(ctx) {
        const r = await ctx.daemon.request('/total')
        expect(r.status).toBe(504)
      },
    },
  ],
}

/** alpha answers 500 (or 503 for PUT), beta 200: which retries happen shows in the statuses and origin counts. */
function retrySetup(ctx: Omit<WiringContext, 'daemon'>): Promise<void> {
  ctx.origin.route('/r500', {status: 500, body: 'broken'})
  ctx.origins.beta!.route('/r500', {headers: {'Cache-Control': 'no-store'}, body: 'ok'})
  for (const o of [ctx.origin, ctx.origins.beta!]) o.route('/put', {status: 503, body: 'unavailable'})
  return Promise.resolve()
}

const retryGroup: WiringGroup = {
  name: 'retry conditions and methods',
  origins: {beta: {}},
  setup: retrySetup,
  config: (ctx) => ({
    upstreams: [{url: ctx.origin.url, name: 'alpha'}, {url: ctx.origins.beta!.url, name: 'beta'}],
    upstream: {outlier: {enabled: false}, breaker: {enabled: false}, retry: {on: [500, 503], methods: ['GET', 'PUT']}},
  }),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.retry.on[]',
      expect: '500 listed: a 500 from alpha is retried on beta, every answer is 200 (default: the 500 reaches the client)',
      async check(ctx) {
        expect(await statuses(ctx, '/r500', 4)).toEqual([200, 200, 200, 200])
      },
    },
    {
      key: 'upstream.retry.methods',
      expect: 'PUT listed: a bodiless PUT answered 503 is sent to the other member too (default: once)',
      async check(ctx) {
        const r = await ctx.daemon.request('/put', {method: 'PUT'})
        expect(r.status).toBe(503)
        expect(ctx.origin.countFor('/put') + ctx.origins.beta!.countFor('/put')).toBe(2)
      },
    },
    {
      key: 'upstream.outlier.enabled',
      expect: 'false: alpha answering nothing but 500s is never ejected (default: ejected after 5 in a row)',
      async check(ctx) {
        await statuses(ctx, '/r500', 16)
        expect(await ejectedMembers(ctx)).toEqual([])
      },
    },
  ],
}

const retryBudgetGroup: WiringGroup = {
  name: 'retry budget',
  origins: {beta: {}},
  setup: retrySetup,
  config: (ctx) => ({
    upstreams: [{url: ctx.origin.url, name: 'alpha'}, {url: ctx.origins.beta!.url, name: 'beta'}],
    upstream: {outlier: {enabled: false}, breaker: {enabled: false}, retry: {on: [500], budget: {ratio: 0, minPerSecond: 0}}},
  }),
  start: {upstream: false},
  rows: ['upstream.retry.budget.ratio', 'upstream.retry.budget.minPerSecond'].map((key) => ({
    key,
    expect: 'ratio 0 and minPerSecond 0: no retry is ever allowed, alpha\'s 500 reaches the client (default: retried)',
    async check(ctx: WiringContext) {
      expect(await statuses(ctx, '/r500', 4)).toContain(500)
    },
  })),
}

/** KEYS * on the test redis-server, over a raw socket (the reply as text). */
function redisKeys(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('KEYS *\r\n'))
    let got = ''
    s.on('data', (d) => {
      got += d.toString()
      if (got.endsWith('\r\n')) s.end()
    })
    s.on('error', () => resolve(got))
    s.on('close', () => resolve(got))
    s.setTimeout(2000, () => s.destroy())
  })
}

const redisGroup: WiringGroup = {
  name: 'rate limits shared through Redis',
  setup: async (ctx) => {
    const redis = await startRedis()
    if (!redis) throw new Error('redis-server is needed for these rows (apt-get install redis-server)')
    ctx.vars.redis = redis
  },
  config: (ctx) => ({
    rateLimits: {
      redis: {url: (ctx.vars.redis as RedisServer).url, prefix: 'wiring:', failMode: 'closed', commandTimeout: '200ms', retryInterval: '200ms'},
      rules: [{name: 'shared', limit: 100, window: '1h', store: 'redis'}],
    },
  }),
  teardown: async (ctx) => {
    await (ctx.vars.redis as RedisServer | undefined)?.close()
  },
  rows: [
    {
      key: 'rateLimits.rules[].store',
      expect: 'redis: the limit state is a key in Redis (default local: none)',
      async check(ctx) {
        expect((await ctx.daemon.request(path(ctx, 'shared'))).status).toBe(200)
        expect(await redisKeys((ctx.vars.redis as RedisServer).port)).toContain('shared:')
      },
    },
    {
      key: 'rateLimits.redis.url',
      expect: 'the daemon talks to this server (its KEYS list the rule)',
      async check(ctx) {
        expect(await redisKeys((ctx.vars.redis as RedisServer).port)).toMatch(/shared:127\.0\.0\.1/)
      },
    },
    {
      key: 'rateLimits.redis.prefix',
      expect: 'wiring: the keys start with it (default tavern:rl:)',
      async check(ctx) {
        expect(await redisKeys((ctx.vars.redis as RedisServer).port)).toContain('wiring:shared:')
      },
    },
    {
      key: 'rateLimits.redis.failMode',
      expect: 'closed: with Redis gone, requests under the shared rule are refused (default local: served under this node\'s limits)',
      async check(ctx) {
        await (ctx.vars.redis as RedisServer).stop()
        expect((await ctx.daemon.request(path(ctx, 'shared'), {timeoutMs: 3000})).status).toBe(429)
      },
    },
  ],
}

/** A port on 127.0.0.1 nobody listens on (bound, then closed): connects to it are refused at once. */
async function closedPort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as net.AddressInfo).port
  await new Promise((resolve) => srv.close(resolve))
  return port
}

/** Names of the members status shows as ejected. */
async function ejectedMembers(ctx: WiringContext): Promise<string[]> {
  return ((await ctx.daemon.status()).upstreams as Array<{name: string; ejected?: boolean}>).filter((u) => u.ejected).map((u) => u.name)
}

const localErrorsGroup: WiringGroup = {
  name: 'outlier detection on local errors',
  setup: async (ctx) => {
    ctx.vars.dead1 = await closedPort()
    ctx.vars.dead2 = await closedPort()
  },
  config: (ctx) => ({
    upstreams: [
      {url: ctx.origin.url, name: 'alpha'},
      {url: `http://127.0.0.1:${ctx.vars.dead1 as number}`, name: 'dead1'},
      {url: `http://127.0.0.1:${ctx.vars.dead2 as number}`, name: 'dead2'},
    ],
    upstream: {outlier: {consecutive5xx: 0, consecutiveLocalErrors: 1, maxEjectedShare: 1, baseEjection: '1m', maxEjection: '1m'}, breaker: {enabled: false}, retry: {attempts: 1}},
  }),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.outlier.consecutiveLocalErrors',
      expect: '1: one refused connect ejects a member (default 3: after three requests round-robin, one error each, none)',
      async check(ctx) {
        await statuses(ctx, path(ctx, 'local'), 3)
        expect((await ejectedMembers(ctx)).length).toBeGreaterThan(0)
      },
    },
    {
      key: 'upstream.outlier.maxEjectedShare',
      expect: '1: both dead members of three are ejected at once (default 0.5: at most one)',
      async check(ctx) {
        const p = path(ctx, 'share')
        await waitFor(async () => {
          await ctx.daemon.request(p)
          return (await ejectedMembers(ctx)).length === 2
        }, {timeoutMs: 5000, intervalMs: 20, message: 'dead1 and dead2 ejected'})
        expect((await ejectedMembers(ctx)).sort()).toEqual(['dead1', 'dead2'])
      },
    },
  ],
}

const ejectionCapGroup: WiringGroup = {
  name: 'outlier ejection cap',
  setup: async (ctx) => {
    ctx.vars.dead = await closedPort()
  },
  config: (ctx) => ({
    upstreams: [
      {url: ctx.origin.url, name: 'alpha'},
      {url: `http://127.0.0.1:${ctx.vars.dead as number}`, name: 'dead'},
    ],
    upstream: {outlier: {consecutive5xx: 0, consecutiveLocalErrors: 1, baseEjection: '400ms', maxEjection: '400ms'}, breaker: {enabled: false}, retry: {attempts: 1}},
  }),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.outlier.maxEjection',
      expect: '400ms: a second ejection in a row lasts 400 ms, not doubled (default 5m: 800 ms)',
      async check(ctx) {
        const p = path(ctx, 'cap')
        const ejectDead = (): Promise<unknown> =>
          waitFor(async () => {
            await ctx.daemon.request(p)
            return (await ejectedMembers(ctx)).includes('dead')
          }, {timeoutMs: 5000, intervalMs: 10, message: 'dead ejected'})
        await ejectDead()
        await waitFor(async () => !(await ejectedMembers(ctx)).includes('dead'), {timeoutMs: 5000, intervalMs: 10, message: 'dead back'})
        await ejectDead()
        const until = ((await ctx.daemon.status()).upstreams as Array<{name: string; ejectedUntil?: number}>).find((u) => u.name === 'dead')?.ejectedUntil
        expect(until).toBeDefined()
        expect(until! - Date.now()).toBeLessThan(650)
      },
    },
  ],
}

/** Waits for the first breaker transition of `upstream` and expects it to be the only one, to open. */
async function expectOpened(ctx: WiringContext, upstream: string): Promise<void> {
  await waitFor(() => transitions(ctx, upstream).length > 0, {timeoutMs: 3000, message: 'a breaker transition'})
  expect(transitions(ctx, upstream)).toEqual(['open'])
}

/** A single member 'alpha' with breaker options `breaker` (outlier and retries off, so only the breaker acts). */
function breakerConfig(breaker: Record<string, unknown>): WiringGroup['config'] {
  return (ctx) => ({upstreams: [{url: ctx.origin.url, name: 'alpha'}], upstream: {outlier: {enabled: false}, retry: {attempts: 1}, breaker: {recoveryTimeout: '1h', ...breaker}}})
}

const failureThresholdGroup: WiringGroup = {
  name: 'circuit breaker failure threshold',
  setup: async (ctx) => {
    let n = 0
    ctx.origin.route('/ft', () => (n++ === 0 ? {status: 503, body: 'broken'} : {headers: {'Cache-Control': 'no-store'}, body: 'ok'}))
  },
  config: breakerConfig({minRequests: 4, failureThreshold: 0.25}),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.breaker.failureThreshold',
      expect: '0.25: one failure in four requests opens the breaker (default 0.5: closed)',
      async check(ctx) {
        expect(await statuses(ctx, '/ft', 4)).toEqual([503, 200, 200, 200])
        await expectOpened(ctx, 'alpha')
      },
    },
  ],
}

const breakerFailOnGroup: WiringGroup = {
  name: 'circuit breaker failOn',
  setup: async (ctx) => {
    ctx.origin.route('/fo', {status: 500, body: 'broken'})
  },
  config: breakerConfig({minRequests: 3, failOn: [500]}),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.breaker.failOn[]',
      expect: '[500]: three 500s open the single member\'s breaker, the next request is a 503 (default connect/timeout/reset/502/503/504: 500s leave it closed)',
      async check(ctx) {
        expect(await statuses(ctx, '/fo', 3)).toEqual([500, 500, 500])
        await expectOpened(ctx, 'alpha')
        expect((await ctx.daemon.request('/fo')).status).toBe(503)
      },
    },
  ],
}

const breakerWindowGroup: WiringGroup = {
  name: 'circuit breaker window',
  setup: async (ctx) => {
    ctx.origin.route('/win', {status: 503, body: 'broken'})
  },
  config: breakerConfig({minRequests: 3, window: '100ms'}),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.breaker.window',
      expect: '100ms: three failures 300 ms apart never share the window, the breaker stays closed (default 10s: open)',
      async check(ctx) {
        for (let i = 0; i < 3; i++) {
          expect((await ctx.daemon.request('/win')).status).toBe(503)
          // The spacing is the scenario (outcomes older than the window must drop out), not a wait for a result.
          await new Promise((resolve) => setTimeout(resolve, 300))
        }
        expect(transitions(ctx, 'alpha')).toEqual([])
      },
    },
  ],
}

const slowBreakerGroup: WiringGroup = {
  name: 'circuit breaker on latency',
  setup: async (ctx) => {
    let n = 0
    ctx.origin.route('/slow', () => ({headers: {'Cache-Control': 'no-store'}, body: 'ok', delayMs: n++ === 0 ? 1200 : 0}))
  },
  config: breakerConfig({minRequests: 3, latencyThreshold: '400ms', slowRateThreshold: 0.3}),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.breaker.latencyThreshold',
      expect: '400ms: one 1.2 s answer of three counts as slow and opens the breaker (default 0: latency ignored, closed)',
      async check(ctx) {
        expect(await statuses(ctx, '/slow', 3)).toEqual([200, 200, 200])
        await expectOpened(ctx, 'alpha')
      },
    },
    {
      key: 'upstream.breaker.slowRateThreshold',
      expect: '0.3: one slow request of three (33 %) is enough, the reason says 30 % (default 0.5: closed)',
      async check(ctx) {
        const open = ctx.daemon.logLines().find((l) => l.upstream === 'alpha' && l.to === 'open')
        expect(String(open?.reason)).toMatch(/threshold 30 ?%/)
      },
    },
  ],
}

const BACKOFF_MEMBERS = ['b1', 'b2', 'b3', 'b4', 'b5']

const backoffGroup: WiringGroup = {
  name: 'retry backoff',
  origins: Object.fromEntries(BACKOFF_MEMBERS.map((m) => [m, {}])),
  setup: async (ctx) => {
    for (const o of [ctx.origin, ...Object.values(ctx.origins)]) o.route('/boff', {status: 503, body: 'unavailable'})
  },
  config: (ctx) => ({
    upstreams: [{url: ctx.origin.url, name: 'alpha'}, ...BACKOFF_MEMBERS.map((m) => ({url: ctx.origins[m]!.url, name: m}))],
    upstream: {outlier: {enabled: false}, breaker: {enabled: false}, retry: {attempts: 6, backoffBase: '2s', backoffMax: '2s', budget: {ratio: 1, minPerSecond: 100}}},
  }),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.retry.backoffBase',
      expect: '2s: five retries wait more than 1 s in all (default 25ms, doubling under the 2 s cap: at most 25+50+100+200+400 ms = 775 ms)',
      async check(ctx) {
        const r = await ctx.daemon.request('/boff', {timeoutMs: 25_000})
        expect(r.status).toBe(503)
        const at = [ctx.origin, ...Object.values(ctx.origins)].flatMap((o) => o.requestsFor('/boff').map((q) => q.receivedAt)).sort((a, b) => a - b)
        expect(at).toHaveLength(6)
        ctx.vars.gaps = at.slice(1).map((t, i) => t - at[i]!)
        // Full jitter: each wait is uniform in [0, 2 s). Five of them stay under 1 s in all with probability
        // (1/2)^5/5! = 1/3840 (under 2 s it is 1/120: too often for CI); the default can never wait 1 s (775 ms at most).
        expect(at.at(-1)! - at[0]!).toBeGreaterThan(1000)
      },
      timeoutMs: 30_000,
    },
    {
      key: 'upstream.retry.backoffMax',
      expect: '2s: no wait grows past the 2 s cap (base 2s doubling would reach 32 s; without the key, base 2s > default max 250ms is refused at start)',
      async check(ctx) {
        const gaps = ctx.vars.gaps as number[]
        expect(gaps).toHaveLength(5)
        expect(Math.max(...gaps)).toBeLessThan(3500)
      },
    },
  ],
}

type Blackhole = Awaited<ReturnType<typeof startBlackhole>>

const connectTimeoutGroup: WiringGroup = {
  name: 'per-group connect timeout',
  setup: async (ctx) => {
    ctx.vars.blackhole = await startBlackhole()
    ctx.vars.t0 = Date.now() // the daemon is spawned right after setup
  },
  // The blackhole is also the Redis server of the rate limits: its connect hangs until connectTimeout.
  config: (ctx) => ({
    upstreams: [{url: `http://127.0.0.1:${(ctx.vars.blackhole as Blackhole).port}`, name: 'blackhole'}],
    upstream: {connectTimeout: '20s', outlier: {enabled: false}, breaker: {enabled: false}, retry: {attempts: 1}, timeouts: {connect: '300ms'}},
    rateLimits: {
      redis: {url: `redis://127.0.0.1:${(ctx.vars.blackhole as Blackhole).port}`, connectTimeout: '4s'},
      rules: [{name: 'bh', limit: 100, window: '1h', store: 'redis', match: {paths: ['/rl-']}}],
    },
  }),
  start: {upstream: false},
  teardown: async (ctx) => {
    const bh = ctx.vars.blackhole as Blackhole | undefined
    for (const s of bh?.fillers ?? []) s.destroy()
    bh?.child.kill('SIGKILL')
  },
  rows: [
    {
      key: 'upstream.timeouts.connect',
      expect: '300ms: an origin that never accepts is a 504 within 5 s (without it: the group connectTimeout of 20 s)',
      async check(ctx) {
        const r = await ctx.daemon.request('/connect', {timeoutMs: 25_000})
        expect(r.status).toBe(504)
        expect(r.endedAt - r.startedAt).toBeLessThan(5000)
      },
      timeoutMs: 30_000,
    },
    {
      key: 'rateLimits.redis.connectTimeout',
      expect: '4s: startup waits about 4 s for the hanging Redis connect before deciding locally (default 1s)',
      async check(ctx) {
        const line = ctx.daemon.logLines().find((l) => String(l.msg).startsWith('rate limits: Redis not reachable at start'))
        expect(line).toBeDefined()
        expect(Number(line!.time) - (ctx.vars.t0 as number)).toBeGreaterThan(3500)
      },
    },
  ],
}

const vnodesGroup: WiringGroup = {
  name: 'consistent hashing ring size',
  origins: {two: {}},
  // Ring points are md5("<name>-<i>"), so with names 'one' and 'two' the ring is the same on every run: with one
  // point each, 'one' owns a sliver and gets 2 of the users user-0…user-39; with the default 160 points, 21.
  config: (ctx) => ({
    upstreams: [
      {url: ctx.origin.url, name: 'one'},
      {url: ctx.origins.two!.url, name: 'two'},
    ],
    upstream: {outlier: {enabled: false}, breaker: {enabled: false}, balance: {algorithm: 'consistent-hash', hashKey: {header: 'X-User'}, vnodes: 1}},
  }),
  start: {upstream: false},
  rows: [
    {
      key: 'upstream.balance.vnodes',
      expect: "1: member 'one' owns a sliver of the ring, a few of forty users (default 160: about half)",
      async check(ctx) {
        const p = uniquePath('ring')
        for (const o of [ctx.origin, ctx.origins.two!]) o.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'x'})
        for (let i = 0; i < 40; i++) await ctx.daemon.request(p, {headers: {'X-User': `user-${i}`}})
        expect(ctx.origin.countFor(p) + ctx.origins.two!.countFor(p)).toBe(40)
        expect(ctx.origin.countFor(p)).toBeLessThan(6)
      },
    },
  ],
}

const redisFallbackGroup: WiringGroup = {
  name: 'rate limits with Redis unreachable',
  setup: async (ctx) => {
    ctx.vars.deadRedis = await closedPort()
  },
  config: (ctx) => ({
    rateLimits: {
      redis: {url: `redis://127.0.0.1:${ctx.vars.deadRedis as number}`, failMode: 'local', fallbackShare: 0.5},
      rules: [{name: 'half', algorithm: 'fixed-window', limit: 4, window: '1h', store: 'redis'}],
    },
  }),
  rows: [
    {
      key: 'rateLimits.redis.fallbackShare',
      expect: '0.5: with Redis refused, this node alone allows 2 of the limit 4 (default 1: all 4)',
      async check(ctx) {
        expect(await statuses(ctx, path(ctx, 'half'), 5)).toEqual([200, 200, 429, 429, 429])
      },
    },
  ],
}

const redisClosedGroup: WiringGroup = {
  name: 'rate limits fail closed with Redis unreachable',
  setup: async (ctx) => {
    ctx.vars.deadRedis = await closedPort()
  },
  config: (ctx) => ({
    rateLimits: {
      redis: {url: `redis://127.0.0.1:${ctx.vars.deadRedis as number}`, failMode: 'closed', retryInterval: '5s'},
      rules: [
        {name: 'shut', limit: 100, window: '1h', store: 'redis', match: {paths: ['/shut-']}},
        {name: 'opened', algorithm: 'fixed-window', limit: 1, window: '1h', store: 'redis', failMode: 'open', match: {paths: ['/opened-']}},
      ],
    },
  }),
  rows: [
    {
      key: 'rateLimits.rules[].failMode',
      expect: 'open: with Redis refused, this rule lets 3 requests past its limit of 1 (default: rateLimits.redis.failMode closed → 429)',
      async check(ctx) {
        expect(await statuses(ctx, path(ctx, 'opened'), 3)).toEqual([200, 200, 200])
      },
    },
    {
      // A refusal while Redis is out tells the client to come back when Redis is asked again: max(retryInterval, 1 s).
      key: 'rateLimits.redis.retryInterval',
      expect: '5s: the fail-closed refusal says Retry-After: 5 (default 1s: 1)',
      async check(ctx) {
        const r = await ctx.daemon.request(path(ctx, 'shut'))
        expect(r.status).toBe(429)
        expect(r.header('retry-after')).toBe('5')
      },
    },
  ],
}

/** Elapsed milliseconds of one request. */
async function timed(ctx: WiringContext, p: string): Promise<{status: number; ms: number}> {
  const r = await ctx.daemon.request(p, {timeoutMs: 10_000})
  return {status: r.status, ms: r.endedAt - r.startedAt}
}

const redisFrozenGroup: WiringGroup = {
  name: 'rate limits with Redis frozen',
  setup: async (ctx) => {
    const redis = await startRedis()
    if (!redis) throw new Error('redis-server is needed for these rows (apt-get install redis-server)')
    ctx.vars.redis = redis
  },
  config: (ctx) => ({
    rateLimits: {
      redis: {url: (ctx.vars.redis as RedisServer).url, failMode: 'open', commandTimeout: '1500ms'},
      rules: [{name: 'frozen', limit: 100, window: '1h', store: 'redis'}],
    },
  }),
  teardown: async (ctx) => {
    ;(ctx.vars.redis as RedisServer | undefined)?.resume()
    await (ctx.vars.redis as RedisServer | undefined)?.close()
  },
  rows: [
    {
      key: 'rateLimits.redis.commandTimeout',
      expect: '1500ms: with Redis frozen a request waits about 1.5 s for it, then is served from the fallback (default 50ms: at once)',
      async check(ctx) {
        const p = path(ctx, 'frozen')
        expect((await ctx.daemon.request(p)).status).toBe(200)
        await waitFor(async () => (await redisKeys((ctx.vars.redis as RedisServer).port)).includes('frozen:'), {timeoutMs: 5000, message: 'the rule state in Redis'})
        ;(ctx.vars.redis as RedisServer).freeze()
        const r = await timed(ctx, p)
        expect(r.status).toBe(200)
        expect(r.ms).toBeGreaterThan(1200)
      },
    },
  ],
}

export const RESILIENCE_GROUPS: WiringGroup[] = [redisGroup, retryGroup, retryBudgetGroup, rateLimitGroup, resilienceGroup, healthCheckGroup, hashHeaderGroup, hashCookieGroup, breakerGroup, timeoutsGroup, totalTimeoutGroup, localErrorsGroup, ejectionCapGroup, failureThresholdGroup, breakerFailOnGroup, breakerWindowGroup, slowBreakerGroup, backoffGroup, connectTimeoutGroup, vnodesGroup, redisFallbackGroup, redisClosedGroup, redisFrozenGroup]
