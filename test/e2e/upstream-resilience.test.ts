/**
 * Upstream resilience through the built daemon and real origins that fail on purpose: outlier ejection and return,
 * the breaker's round (closed → open → half-open → ramp-up → closed, from the log), retries of a refused fill on
 * another member, a POST never sent twice, backups used only when the primaries are down (active health checks),
 * consistent hashing keeping a key on one member, p2c-ewma starving a slow member, 503 when no member is left.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {waitFor} from '../helpers/wait.js'

interface Member {
  name: string
  healthy: boolean
  ejected?: boolean
  breaker?: {state: string}
  probeUp?: boolean
  backup?: boolean
}

let cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {})
  cleanup = []
})

async function origins(n: number): Promise<Origin[]> {
  const out: Origin[] = []
  for (let i = 0; i < n; i++) {
    const o = await startOrigin()
    cleanup.push(() => o.close())
    out.push(o)
  }
  return out
}

async function daemon(config: Record<string, unknown>): Promise<DaemonHandle> {
  const d = await startDaemon({config})
  cleanup.push(() => d.stop())
  return d
}

async function members(d: DaemonHandle): Promise<Member[]> {
  return (await d.status()).upstreams as Member[]
}

/** Route `p` on every origin: a no-store answer naming the origin (or what `spec(i)` says). */
function routeAll(os: Origin[], p: string, bad?: (i: number) => boolean, badStatus = 500): void {
  os.forEach((o, i) => o.route(p, () => (bad?.(i) ? {status: badStatus, body: 'broken'} : {headers: {'Cache-Control': 'no-store'}, body: `o${i}`})))
}

describe('upstream resilience (daemon, real origins)', () => {
  it('a member answering 500 is ejected after consecutive5xx, traffic moves to the others, and it returns after the ejection', async () => {
    const os = await origins(3)
    const p = uniquePath('eject')
    let bad = true
    routeAll(os, p, (i) => i === 1 && bad)
    const d = await daemon({
      upstreams: os.map((o, i) => ({url: o.url, name: `o${i}`})),
      upstream: {outlier: {consecutive5xx: 3, baseEjection: '3s', maxEjection: '6s'}, breaker: {enabled: false}, retry: {attempts: 1}},
    })
    let fails = 0
    for (let i = 0; i < 9; i++) if ((await d.request(p)).status === 500) fails++
    expect(fails, 'round-robin gave o1 its three requests, all 500').toBe(3)
    const m = await members(d)
    expect(m[1]).toMatchObject({name: 'o1', ejected: true, healthy: false})
    // While ejected, o1 gets nothing.
    const before = os[1]!.countFor(p)
    for (let i = 0; i < 6; i++) expect((await d.request(p)).status).toBe(200)
    expect(os[1]!.countFor(p)).toBe(before)
    expect(d.logs()).toContain('upstream ejected (outlier detection)')
    bad = false
    await waitFor(async () => (await members(d))[1]!.healthy, {timeoutMs: 8000, message: 'o1 back after its ejection'})
    for (let i = 0; i < 6; i++) expect((await d.request(p)).status).toBe(200)
    expect(os[1]!.countFor(p)).toBeGreaterThan(before)
  })

  it('the breaker of a failing member opens, half-opens, ramps up and closes; tavern status shows its state', async () => {
    const os = await origins(2)
    const p = uniquePath('breaker')
    let bad = true
    routeAll(os, p, (i) => i === 1 && bad, 503)
    const d = await daemon({
      upstreams: os.map((o, i) => ({url: o.url, name: `o${i}`})),
      upstream: {outlier: {enabled: false}, breaker: {minRequests: 4, failureThreshold: 0.5, window: '10s', recoveryTimeout: '500ms', halfOpenMaxRequests: 1, rampUp: '500ms'}, retry: {attempts: 1}},
    })
    for (let i = 0; i < 8; i++) await d.request(p)
    expect((await members(d))[1]!.breaker?.state).toBe('open')
    const n = os[1]!.countFor(p)
    for (let i = 0; i < 4; i++) expect((await d.request(p)).status).toBe(200)
    expect(os[1]!.countFor(p), 'no traffic to an open member').toBe(n)
    bad = false
    await waitFor(async () => {
      await d.request(p)
      return (await members(d))[1]!.breaker?.state === 'closed'
    }, {timeoutMs: 10_000, intervalMs: 20, message: 'o1 breaker closes again'})
    const states = d.logLines().filter((l) => l.upstream === 'o1' && typeof l.to === 'string').map((l) => l.to)
    expect(states).toEqual(['open', 'half-open', 'ramp-up', 'closed'])
  })

  it('a GET whose member refuses the connection is retried on another member; a POST reaches an origin once', async () => {
    const os = await origins(2)
    const d = await daemon({upstreams: os.map((o, i) => ({url: o.url, name: `o${i}`})), upstream: {failureCooldown: '1ms'}})
    await os[0]!.pause()
    for (let i = 0; i < 4; i++) {
      const p = uniquePath('retry')
      os[1]!.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'from o1'})
      const r = await d.request(p)
      expect(r.status).toBe(200)
      expect(r.text).toBe('from o1')
    }
    await os[0]!.resume()
    const post = uniquePath('post')
    for (const o of os) o.route(post, {status: 503, body: 'unavailable'})
    const r = await d.request(post, {method: 'POST', body: 'payload'})
    expect(r.status).toBe(503)
    expect(os[0]!.countFor(post) + os[1]!.countFor(post), 'a POST is never sent twice').toBe(1)
  })

  it('backups take traffic only while no primary is available (active health checks); no member at all → 503 with Retry-After', async () => {
    const os = await origins(3)
    const p = uniquePath('backup')
    routeAll(os, p)
    for (const o of os) o.route('/health', {body: 'ok'})
    const d = await daemon({
      upstreams: [{url: os[0]!.url, name: 'p0'}, {url: os[1]!.url, name: 'p1'}, {url: os[2]!.url, name: 'b', backup: true}],
      upstream: {healthCheck: {path: '/health', interval: '300ms', timeout: '300ms', rise: 1, fall: 2}},
    })
    for (let i = 0; i < 6; i++) expect((await d.request(p)).status).toBe(200)
    expect(os[2]!.countFor(p), 'the backup idles while primaries are up').toBe(0)
    await os[0]!.pause()
    await os[1]!.pause()
    await waitFor(async () => (await members(d)).filter((m) => m.probeUp === false).length === 2, {timeoutMs: 5000, message: 'both primaries down'})
    for (let i = 0; i < 3; i++) expect((await d.request(p)).text).toBe('o2')
    await os[2]!.pause()
    await waitFor(async () => (await members(d)).every((m) => m.probeUp === false), {timeoutMs: 5000, message: 'every member down'})
    const r = await d.request(uniquePath('none'))
    expect(r.status).toBe(503)
    expect(r.text).toContain('TAVERN_ERR_NO_UPSTREAM_AVAILABLE')
    expect(Number(r.header('retry-after'))).toBeGreaterThanOrEqual(1)
    await os[0]!.resume()
    await waitFor(async () => (await d.request(p)).text === 'o0', {timeoutMs: 5000, message: 'p0 back in service'})
  })

  it('with the defaults, a single origin answering 500 on some URLs keeps serving the others (500 does not open the breaker)', async () => {
    const os = await origins(1)
    const broken = uniquePath('broken')
    const fine = uniquePath('fine')
    routeAll(os, broken, () => true)
    routeAll(os, fine)
    const d = await daemon({upstreams: [{url: os[0]!.url, name: 'only'}]})
    // More than breaker.minRequests (20) of them, all failing: before failOn, this opened the only member's breaker.
    for (let i = 0; i < 30; i++) expect((await d.request(broken)).status).toBe(500)
    for (let i = 0; i < 5; i++) expect((await d.request(fine)).status).toBe(200)
    expect((await members(d))[0]!.breaker?.state).toBe('closed')
  })

  it('consistent hashing keeps each key on one member and moves only the keys of a member that goes down', async () => {
    const os = await origins(3)
    for (const o of os) o.route('/health', {body: 'ok'})
    const d = await daemon({
      upstreams: os.map((o, i) => ({url: o.url, name: `o${i}`})),
      upstream: {balance: {algorithm: 'consistent-hash'}, healthCheck: {path: '/health', interval: '300ms', timeout: '300ms', rise: 1, fall: 2}},
    })
    const keys = Array.from({length: 30}, () => uniquePath('ring'))
    for (const k of keys) routeAll(os, k)
    const owner = new Map<string, string>()
    for (const k of keys) owner.set(k, (await d.request(k)).text)
    for (const k of keys) expect((await d.request(k)).text, `key ${k} stays on its member\n${d.logs().slice(-3000)}`).toBe(owner.get(k))
    expect(new Set(owner.values()).size, 'the keys spread over the members').toBe(3)
    await os[2]!.pause()
    await waitFor(async () => (await members(d))[2]!.probeUp === false, {timeoutMs: 5000, message: 'o2 down'})
    for (const k of keys) {
      const now = (await d.request(k)).text
      if (owner.get(k) !== 'o2') expect(now, `key ${k} of a live member does not move`).toBe(owner.get(k))
      else expect(now).not.toBe('o2')
    }
  })

  it('p2c-ewma sends a slow member much less traffic than its share', async () => {
    const os = await origins(3)
    const p = uniquePath('slow')
    os.forEach((o, i) => o.route(p, {headers: {'Cache-Control': 'no-store'}, body: `o${i}`, delayMs: i === 2 ? 150 : 0}))
    const d = await daemon({upstreams: os.map((o, i) => ({url: o.url, name: `o${i}`})), upstream: {balance: {algorithm: 'p2c-ewma', ewmaDecay: '30s'}}})
    for (let i = 0; i < 60; i++) await d.request(p)
    expect(os[2]!.countFor(p), 'round-robin would give it 20').toBeLessThan(10)
  })
})
