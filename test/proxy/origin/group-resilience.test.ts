/**
 * The group's resilience against real origins on 127.0.0.1 (undici pools, as the upstream group uses): a member
 * answering 500 is ejected and comes back, the breaker goes round its states, GETs are retried on another member,
 * POSTs never are, and retries stay within the budget when every member fails.
 */
import {type Dispatcher, Pool} from 'undici'
import {afterEach, describe, expect, it} from 'vitest'

import {UpstreamResilienceConfig} from '../../../src/proxy/origin/config.js'
import {type GroupMember, GroupResilience, NoMemberError, type ResilienceEvent} from '../../../src/proxy/origin/group-resilience.js'
import type {AttemptResult, FailureKind} from '../../../src/proxy/origin/retry.js'
import {classifyUpstreamError} from '../../../src/proxy/origin/upstream.js'
import {discardBody} from '../../../src/util/discard.js'
import {type Origin, type ResponseSpec, startOrigin} from '../../helpers/origin.js'
import {waitFor} from '../../helpers/wait.js'

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

interface Answer {
  status: number
  body: string
  member: string
}

/** A group of real origins, each answering `behaviour()` for every path. */
async function setup(n: number, config: unknown, behaviours: Array<() => ResponseSpec>) {
  const origins: Origin[] = []
  for (let i = 0; i < n; i++) {
    const o = await startOrigin()
    o.route('/obj', () => behaviours[i]!())
    o.route('/health', () => behaviours[i]!())
    origins.push(o)
    cleanup.push(() => o.close())
  }
  const members: GroupMember[] = origins.map((o, i) => ({name: `u${i}`, url: o.url, weight: 1, backup: false}))
  const pools = new Map(origins.map((o, i) => [`u${i}`, new Pool(o.url, {connections: 16, connect: {timeout: 1000}, headersTimeout: 5000})]))
  cleanup.push(async () => {
    await Promise.all([...pools.values()].map((p) => p.destroy()))
  })
  const events: ResilienceEvent[] = []
  const group = new GroupResilience(members, UpstreamResilienceConfig.parse(config), {onEvent: (e) => events.push(e)})
  cleanup.push(() => group.stop())

  async function send(method = 'GET'): Promise<Answer> {
    return await group.execute<Answer & {raw: Dispatcher.ResponseData}>(
      {method, replayable: true},
      async (member): Promise<AttemptResult<Answer & {raw: Dispatcher.ResponseData}>> => {
        try {
          const raw = await pools.get(member)!.request({method, path: '/obj', body: method === 'POST' ? 'payload' : undefined})
          return {response: {status: raw.statusCode, body: '', member, raw}, status: raw.statusCode}
        } catch (error) {
          const e = classifyUpstreamError(error, member)
          return {error: e, kind: ['connect', 'timeout', 'reset'].includes(e.kind) ? (e.kind as FailureKind) : 'other'}
        }
      },
      (r) => discardBody(r.raw.body),
    ).then(async (r) => ({status: r.status, body: await r.raw.body.text(), member: r.member}))
  }
  return {origins, group, events, send}
}

const ok = (): ResponseSpec => ({status: 200, body: 'fine'})
const broken = (): ResponseSpec => ({status: 500, body: 'broken'})
/** What a failing member answers in the breaker tests: a status breaker.failOn counts by default (500 is not). */
const busy = (): ResponseSpec => ({status: 503, body: 'busy'})

describe('group resilience against real origins', () => {
  it('one of three answering 500 is ejected after the configured count, traffic moves, and it returns after recovery', async () => {
    let bad = true
    const s = await setup(3, {
      // Long enough that a loaded machine does not end the ejection while the 30 requests run.
      outlier: {consecutive5xx: 3, consecutiveLocalErrors: 3, baseEjection: '2s', maxEjection: '4s', maxEjectedShare: 0.34},
      breaker: {enabled: false},
      retry: {attempts: 1},
      healthCheck: {path: '/health', interval: '50ms', timeout: '40ms', rise: 2, fall: 2},
    }, [ok, () => (bad ? broken() : ok()), ok])
    // Round-robin: u1 gets every third request until its third 500 in a row.
    const answers: Answer[] = []
    for (let i = 0; i < 30; i++) answers.push(await s.send())
    s.group.start()
    const fromU1 = answers.filter((a) => a.member === 'u1')
    expect(fromU1.length).toBeLessThanOrEqual(3)
    expect(fromU1.every((a) => a.status === 500)).toBe(true)
    expect(answers.slice(-10).every((a) => a.member !== 'u1' && a.status === 200)).toBe(true)
    // Ejected by the outlier detector and, independently, down by the active check.
    expect(s.events.some((e) => e.type === 'outlier' && e.change.member === 'u1' && e.change.ejected)).toBe(true)
    await waitFor(() => s.events.some((e) => e.type === 'health' && e.change.member === 'u1' && !e.change.up), {message: 'health check takes u1 down'})
    expect(s.group.snapshot().members[1]).toMatchObject({available: false, healthy: false})
    // Recovery: the health check brings it back (rise), the ejection ends, traffic returns.
    bad = false
    await waitFor(() => s.events.some((e) => e.type === 'health' && e.change.member === 'u1' && e.change.up), {message: 'health check sees u1 recover'})
    await waitFor(() => s.group.snapshot().members[1]!.available, {timeoutMs: 10_000, message: 'u1 available again'})
    const later: Answer[] = []
    for (let i = 0; i < 9; i++) later.push(await s.send())
    expect(later.filter((a) => a.member === 'u1')).toHaveLength(3)
    expect(later.every((a) => a.status === 200)).toBe(true)
  })

  it('the breaker of a failing member goes closed → open → half-open → ramp-up → closed', async () => {
    let bad = true
    const s = await setup(2, {
      outlier: {enabled: false},
      breaker: {window: '10s', failureThreshold: 0.5, minRequests: 4, recoveryTimeout: '300ms', halfOpenMaxRequests: 2, rampUp: '400ms'},
      retry: {attempts: 1},
    }, [ok, () => (bad ? busy() : ok())])
    for (let i = 0; i < 12; i++) await s.send()
    const transitions = () => s.events.filter((e) => e.type === 'breaker' && e.member === 'u1').map((e) => (e.type === 'breaker' ? e.change.to : ''))
    expect(transitions()).toEqual(['open'])
    // While open, everything goes to u0.
    for (let i = 0; i < 6; i++) expect((await s.send()).member).toBe('u0')
    bad = false
    await waitFor(async () => {
      await s.send()
      return transitions().includes('closed')
    }, {timeoutMs: 10_000, intervalMs: 10, message: 'u1 breaker closes again'})
    expect(transitions()).toEqual(['open', 'half-open', 'ramp-up', 'closed'])
  })

  it('a GET failing on connect or 503 is retried on another member and succeeds', async () => {
    const s = await setup(3, {outlier: {enabled: false}, breaker: {enabled: false}, retry: {attempts: 3, backoffBase: '1ms', backoffMax: '5ms'}}, [() => ({status: 503, body: 'busy'}), ok, ok])
    await s.origins[1]!.pause() // u1: connection refused
    s.origins[2]!.route('/obj', () => ({status: 200, body: 'from u2'}))
    for (let i = 0; i < 6; i++) {
      const a = await s.send()
      expect(a).toEqual({status: 200, body: 'from u2', member: 'u2'})
    }
    expect(s.events.filter((e) => e.type === 'retry').length).toBeGreaterThanOrEqual(6)
    expect(s.group.snapshot().retries).toBeGreaterThanOrEqual(6)
  })

  it('a POST never reaches an origin twice', async () => {
    const s = await setup(3, {outlier: {enabled: false}, breaker: {enabled: false}, retry: {attempts: 3}}, [() => ({status: 503}), () => ({status: 503}), () => ({status: 503})])
    for (let i = 0; i < 5; i++) expect((await s.send('POST')).status).toBe(503)
    const posts = s.origins.flatMap((o) => o.requests.filter((r) => r.method === 'POST'))
    expect(posts).toHaveLength(5)
    expect(new Set(posts.map((p) => p.body.toString()))).toEqual(new Set(['payload']))
  })

  it('with every member failing, retries stay within the budget', async () => {
    const fail = (): ResponseSpec => ({status: 503, delayMs: 30})
    const s = await setup(3, {outlier: {enabled: false}, breaker: {enabled: false}, retry: {attempts: 3, backoffBase: '1ms', backoffMax: '2ms', budget: {ratio: 0.2, minPerSecond: 0}}}, [fail, fail, fail])
    const n = 60
    // At each retry granted: the retries in flight before it were below 20 % of the requests in flight.
    const granted: Array<{retries: number; requests: number}> = []
    const events = s.events
    const push = events.push.bind(events)
    events.push = (...es: ResilienceEvent[]) => {
      for (const e of es) if (e.type === 'retry') {
        const b = s.group.budget.snapshot()
        granted.push({retries: b.retriesInFlight - 1, requests: b.requestsInFlight})
      }
      return push(...es)
    }
    const answers = await Promise.all(Array.from({length: n}, () => s.send()))
    expect(answers.every((a) => a.status === 503)).toBe(true)
    const sent = s.origins.reduce((t, o) => t + o.countFor('/obj'), 0)
    const retries = sent - n
    // Without a budget: n × 2 retries. With it: never more than 20 % of the requests in flight at any moment.
    expect(retries).toBe(granted.length)
    expect(retries).toBeGreaterThan(0)
    expect(retries).toBeLessThanOrEqual(Math.ceil(0.2 * n) * 2)
    for (const g of granted) expect(g.retries).toBeLessThan(0.2 * g.requests)
    expect(s.group.budget.snapshot()).toMatchObject({requestsInFlight: 0, retriesInFlight: 0})
    expect(s.group.budget.snapshot().refused).toBeGreaterThan(0)
  })

  it('no member available: NoMemberError with a Retry-After from the breakers', async () => {
    const s = await setup(1, {outlier: {enabled: false}, breaker: {minRequests: 2, recoveryTimeout: '5s'}, retry: {attempts: 1}}, [busy])
    await s.send()
    await s.send()
    const err = await s.send().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NoMemberError)
    expect((err as NoMemberError).retryAfterMs).toBeGreaterThan(4000)
    expect((err as NoMemberError).retryAfterMs).toBeLessThanOrEqual(5000)
  })
})
