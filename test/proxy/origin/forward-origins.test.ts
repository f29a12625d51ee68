// The forward-proxy destination registry (src/proxy/origin/forward-origins.ts) against real origins: one group per
// destination, bounded in number (the least recently used idle one is replaced; all busy → 503), closed when idle.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ConfigSchema} from '../../../src/config/schema.js'
import type {OriginRequest} from '../../../src/core/origin.js'
import {upstreamOptions} from '../../../src/daemon/daemon.js'
import {ForwardOrigins, forwardUpstreamOptions} from '../../../src/proxy/origin/forward-origins.js'
import {UpstreamError, UpstreamGroup} from '../../../src/proxy/origin/upstream.js'
import {type Origin, sleep, startOrigin} from '../../helpers/origin.js'
import {waitFor} from '../../helpers/wait.js'

let origins: Origin[] = []

beforeAll(async () => {
  origins = await Promise.all([startOrigin(), startOrigin(), startOrigin()])
  for (const o of origins) {
    o.route('/ok', () => ({body: 'ok'}))
    o.route('/slow', () => ({body: 'late', delayMs: 400}))
  }
})
afterAll(async () => {
  await Promise.all(origins.map((o) => o.close()))
})

function registry(maxDestinations: number, idleTimeoutMs: number): {reg: ForwardOrigins; made: string[]} {
  const c = ConfigSchema.parse({forwardProxy: {enabled: true, connections: 2}})
  const opts = forwardUpstreamOptions(upstreamOptions(c), c.forwardProxy, undefined)
  const made: string[] = []
  const reg = new ForwardOrigins({
    make: (origin, name) => {
      made.push(origin)
      return new UpstreamGroup([{url: origin, weight: 1}], opts, {name})
    },
    maxDestinations,
    idleTimeoutMs,
  })
  return {reg, made}
}

const req = (path: string): OriginRequest => ({method: 'GET', path, headers: ['host', 'x'], body: null, reason: 'fill', idempotent: true, replayable: true})

async function get(reg: ForwardOrigins, origin: string, path = '/ok'): Promise<string> {
  const res = await reg.origin(origin).request(req(path))
  let text = ''
  for await (const c of res.body) text += String(c)
  return text
}

describe('forward-proxy destinations', () => {
  it('one group per destination, reused; connections per destination from forwardProxy.connections', async () => {
    const {reg, made} = registry(8, 60_000)
    const [a] = origins.map((o) => o.url)
    expect(await get(reg, a!)).toBe('ok')
    expect(await get(reg, a!)).toBe('ok')
    expect(made).toEqual([a])
    // connections: 2 — a third concurrent request waits for one of the first two to finish.
    const before = origins[0]!.requests.length
    expect(await Promise.all([get(reg, a!, '/slow'), get(reg, a!, '/slow'), get(reg, a!, '/slow')])).toEqual(['late', 'late', 'late'])
    const at = origins[0]!.requests.slice(before).map((r) => r.receivedAt)
    expect(at[2]! - at[0]!).toBeGreaterThanOrEqual(300)
    await reg.close()
  })

  it('bounded: a new destination replaces the least recently used idle one; with every one busy it is 503 (busy)', async () => {
    const {reg, made} = registry(2, 60_000)
    const [a, b, c] = origins.map((o) => o.url) as [string, string, string]
    await get(reg, a)
    await get(reg, b)
    await get(reg, a) // b is now the least recently used
    await get(reg, c)
    expect(reg.size).toBe(2)
    expect(made).toEqual([a, b, c])
    await get(reg, a) // still open: not made again
    expect(made).toEqual([a, b, c])
    // Both open destinations busy (a head still coming): a third cannot be opened.
    const slowA = get(reg, a, '/slow')
    const slowC = get(reg, c, '/slow')
    await sleep(50)
    const refused = await reg
      .origin(b)
      .request(req('/ok'))
      .then(
        () => undefined,
        (error: unknown) => error,
      )
    expect(refused).toBeInstanceOf(UpstreamError)
    expect((refused as UpstreamError).kind).toBe('busy')
    expect((refused as UpstreamError).status).toBe(503)
    expect(await slowA).toBe('late')
    expect(await slowC).toBe('late')
    await reg.close()
  })

  it('a destination unused for idleTimeout is closed; asked again, it is made afresh', async () => {
    const {reg, made} = registry(8, 150)
    const [a] = origins.map((o) => o.url) as [string]
    await get(reg, a)
    expect(reg.size).toBe(1)
    await waitFor(() => reg.size === 0, {timeoutMs: 2000})
    expect(await get(reg, a)).toBe('ok')
    expect(made).toEqual([a, a])
    await reg.close()
  })

  it('after close, requests are refused (a retired registry never reopens pools)', async () => {
    const {reg} = registry(8, 60_000)
    await reg.close()
    await expect(reg.origin(origins[0]!.url).request(req('/ok'))).rejects.toMatchObject({kind: 'unavailable'})
  })
})
