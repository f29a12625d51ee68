import {afterEach, describe, expect, it} from 'vitest'

import {ActiveHealthCheck, type HealthChange, type HealthCheckOptions, parseStatusRanges} from '../../../src/proxy/origin/health/active-check.js'
import {type Origin, startOrigin} from '../../helpers/origin.js'
import {waitFor} from '../../helpers/wait.js'

const opts: HealthCheckOptions = {path: '/healthz', method: 'GET', host: 'health.test', intervalMs: 40, timeoutMs: 300, expectStatus: [[200, 399]], rise: 2, fall: 3, initial: 'up'}

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

async function origin(): Promise<Origin & {mode: 'ok' | 'fail' | 'hang'}> {
  const o = Object.assign(await startOrigin(), {mode: 'ok' as 'ok' | 'fail' | 'hang'})
  o.route('/base/healthz', () => (o.mode === 'ok' ? {status: 204} : o.mode === 'hang' ? {hang: true} : {status: 500, body: 'broken'}))
  cleanup.push(() => o.close())
  return o
}

function checker(targets: Array<{name: string; url: string}>, over: Partial<HealthCheckOptions> = {}) {
  const changes: HealthChange[] = []
  const c = new ActiveHealthCheck(targets, {...opts, ...over}, {onChange: (ch) => changes.push(ch)})
  cleanup.push(() => c.stop())
  return {c, changes}
}

describe('active health check', () => {
  it('probes path and Host on the member base path; fall failures take it down, rise passes bring it back', async () => {
    const a = await origin()
    const b = await origin()
    const {c, changes} = checker([{name: 'a', url: `${a.url}/base`}, {name: 'b', url: `${b.url}/base/`}])
    c.start()
    await a.waitForCount('/base/healthz', 2)
    expect(a.requestsFor('/base/healthz')[0]!.header('host')).toBe('health.test')
    expect(c.isUp('a')).toBe(true)
    a.mode = 'fail'
    await waitFor(() => !c.isUp('a'), {message: 'a goes down'})
    expect(changes).toEqual([{member: 'a', up: false, at: expect.any(Number), reason: '3 probe(s) failed: status 500 not in 200-399'}])
    expect(c.isUp('b')).toBe(true)
    a.mode = 'ok'
    await waitFor(() => c.isUp('a'), {message: 'a comes back'})
    expect(changes.map((ch) => `${ch.member}:${ch.up}`)).toEqual(['a:false', 'a:true'])
    expect(changes[1]!.reason).toBe('2 probe(s) passed (status 204)')
    const snap = c.snapshot().find((s) => s.name === 'a')!
    expect(snap).toMatchObject({up: true, lastStatus: 204, failures: 0})
    expect(snap.checks).toBeGreaterThanOrEqual(6)
  })

  it('a probe with no answer within the timeout fails; so does a refused connection', async () => {
    const a = await origin()
    a.mode = 'hang'
    const {c, changes} = checker([{name: 'a', url: `${a.url}/base`}], {fall: 1, timeoutMs: 100})
    await c.checkNow()
    expect(c.isUp('a')).toBe(false)
    expect(changes[0]!.reason).toBe('1 probe(s) failed: no answer within 100 ms')
    a.mode = 'ok'
    await c.checkNow()
    await c.checkNow()
    expect(c.isUp('a')).toBe(true)
    await a.pause()
    await c.checkNow()
    expect(c.isUp('a')).toBe(false)
    expect(c.snapshot()[0]!.lastError).toMatch(/ECONNREFUSED/)
  })

  it('initial: down waits for rise passes before the member takes traffic', async () => {
    const a = await origin()
    const {c} = checker([{name: 'a', url: `${a.url}/base`}], {initial: 'down'})
    expect(c.isUp('a')).toBe(false)
    await c.checkNow()
    expect(c.isUp('a')).toBe(false)
    await c.checkNow()
    expect(c.isUp('a')).toBe(true)
  })

  it('stop() cancels probes in progress without judging the member', async () => {
    const a = await origin()
    a.mode = 'hang'
    const {c, changes} = checker([{name: 'a', url: `${a.url}/base`}], {fall: 1, timeoutMs: 5000})
    c.start()
    await a.waitForCount('/base/healthz', 1)
    await c.stop()
    expect(changes).toEqual([])
    expect(c.snapshot()[0]!.checks).toBe(0)
  })

  it('parses expected status ranges', () => {
    expect(parseStatusRanges('200-399')).toEqual([[200, 399]])
    expect(parseStatusRanges('200, 204-206')).toEqual([[200, 200], [204, 206]])
    expect(parseStatusRanges('399-200')).toBeUndefined()
    expect(parseStatusRanges('2xx')).toBeUndefined()
    expect(parseStatusRanges('')).toBeUndefined()
  })
})
