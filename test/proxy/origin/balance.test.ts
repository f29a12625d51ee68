import {describe, expect, it} from 'vitest'

import {balanceKey, cookieValue, createBalancer, type MemberState, PeakEwma, type RandomSource} from '../../../src/proxy/origin/balance/index.js'

/** Deterministic PRNG (mulberry32), so simulations give the same numbers on every run. */
export function seeded(seed: number): RandomSource {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

function member(name: string, over: Partial<MemberState> = {}): MemberState {
  return {name, weight: 1, backup: false, available: true, inFlight: 0, ewmaMs: 50, ...over}
}

function names(ms: Array<MemberState | undefined>): string {
  return ms.map((m) => m?.name ?? '-').join('')
}

describe('round-robin', () => {
  it('is nginx smooth weighted round-robin (5,1,1 → a a b a c a a)', () => {
    const b = createBalancer('round-robin')
    const ms = [member('a', {weight: 5}), member('b'), member('c')]
    expect(names(Array.from({length: 14}, () => b.pick(ms)))).toBe('aabacaaaabacaa')
  })

  it('skips unavailable and excluded members; backups only when no primary is available', () => {
    const b = createBalancer('round-robin')
    const ms = [member('a'), member('b', {available: false}), member('z', {backup: true})]
    expect(names([b.pick(ms), b.pick(ms), b.pick(ms)])).toBe('aaa')
    expect(b.pick(ms, {exclude: new Set(['a'])})?.name).toBe('z')
    expect(b.pick([member('a', {available: false}), member('z', {backup: true, available: false})])).toBeUndefined()
    expect(b.pick([])).toBeUndefined()
  })
})

describe('random', () => {
  it('draws by weight', () => {
    const b = createBalancer('random', {random: seeded(1)})
    const ms = [member('a', {weight: 3}), member('b')]
    let a = 0
    for (let i = 0; i < 10_000; i++) if (b.pick(ms)?.name === 'a') a++
    expect(a / 10_000).toBeGreaterThan(0.72)
    expect(a / 10_000).toBeLessThan(0.78)
  })
})

describe('least-connections', () => {
  it('takes the fewest in flight per weight, and round-robins among ties', () => {
    const b = createBalancer('least-connections')
    expect(b.pick([member('a', {inFlight: 3}), member('b', {inFlight: 1}), member('c', {inFlight: 2})])?.name).toBe('b')
    // 4 in flight on weight 4 is lighter than 2 on weight 1.
    expect(b.pick([member('a', {inFlight: 4, weight: 4}), member('b', {inFlight: 2})])?.name).toBe('a')
    const idle = [member('a'), member('b'), member('c')]
    expect(names([b.pick(idle), b.pick(idle), b.pick(idle)])).toBe('abc')
  })
})

describe('p2c-ewma', () => {
  it('of the two drawn, the one with the lower ewma × (inFlight + 1) wins; never the same member twice', () => {
    const b = createBalancer('p2c-ewma', {random: seeded(7)})
    const two = [member('fast', {ewmaMs: 10, inFlight: 3}), member('slow', {ewmaMs: 100, inFlight: 0})]
    // fast: 10 × 4 = 40 < slow: 100 × 1
    for (let i = 0; i < 50; i++) expect(b.pick(two)?.name).toBe('fast')
    const loaded = [member('fast', {ewmaMs: 10, inFlight: 20}), member('slow', {ewmaMs: 100, inFlight: 0})]
    for (let i = 0; i < 50; i++) expect(b.pick(loaded)?.name).toBe('slow')
    expect(b.pick([member('only')])?.name).toBe('only')
  })
})

describe('consistent-hash', () => {
  const keys = Array.from({length: 4000}, (_, i) => `http://site.test/k/${i}`)

  it('keeps a key on its member, moves it to the next in ring order while that one is unavailable, and back after', () => {
    const b = createBalancer('consistent-hash')
    const ms = [member('a'), member('b'), member('c')]
    const owners = keys.map((k) => b.pick(ms, {hashKey: k})!.name)
    expect(keys.map((k) => b.pick(ms, {hashKey: k})!.name)).toEqual(owners)
    const bDown = [member('a'), member('b', {available: false}), member('c')]
    keys.forEach((k, i) => {
      const now = b.pick(bDown, {hashKey: k})!.name
      if (owners[i] !== 'b') expect(now).toBe(owners[i])
      else expect(now).not.toBe('b')
    })
    // The fallback is sticky too: the same key falls back to the same member every time.
    expect(keys.map((k) => b.pick(bDown, {hashKey: k})!.name)).toEqual(keys.map((k) => b.pick(bDown, {hashKey: k})!.name))
    expect(keys.map((k) => b.pick(ms, {hashKey: k})!.name)).toEqual(owners)
    // Excluding the owner (a retry) gives the same member as the owner being down.
    keys.forEach((k, i) => {
      if (owners[i] === 'b') expect(b.pick(ms, {hashKey: k, exclude: new Set(['b'])})!.name).toBe(b.pick(bDown, {hashKey: k})!.name)
    })
  })

  it('a fourth member joining takes about a quarter of the keys, and only keys move to it', () => {
    const b = createBalancer('consistent-hash')
    const three = [member('a'), member('b'), member('c')]
    const before = keys.map((k) => b.pick(three, {hashKey: k})!.name)
    const four = [...three, member('d')]
    let moved = 0
    keys.forEach((k, i) => {
      const now = b.pick(four, {hashKey: k})!.name
      if (now !== before[i]) {
        moved++
        expect(now).toBe('d')
      }
    })
    expect(moved / keys.length).toBeGreaterThan(0.18)
    expect(moved / keys.length).toBeLessThan(0.32)
  })

  it('backups have their own ring; no hash key → round-robin', () => {
    const b = createBalancer('consistent-hash')
    const ms = [member('a', {available: false}), member('x', {backup: true}), member('y', {backup: true})]
    const picks = new Set(keys.slice(0, 200).map((k) => b.pick(ms, {hashKey: k})!.name))
    expect(picks).toEqual(new Set(['x', 'y']))
    const rr = [member('a'), member('b')]
    expect(names([b.pick(rr), b.pick(rr), b.pick(rr), b.pick(rr)])).toBe('abab')
  })

  it('balanceKey reads the cache key, a header or a cookie (absent → the cache key)', () => {
    const req = {cacheKey: 'http://h/p', headers: ['X-User', 'u1', 'Cookie', 'a=1; sess=abc ; b=2', 'Cookie', 'late=9']}
    expect(balanceKey({from: 'key'}, req)).toBe('http://h/p')
    expect(balanceKey({from: 'header', name: 'x-user'}, req)).toBe('u1')
    expect(balanceKey({from: 'header', name: 'x-none'}, req)).toBe('http://h/p')
    expect(balanceKey({from: 'cookie', name: 'sess'}, req)).toBe('abc')
    expect(balanceKey({from: 'cookie', name: 'late'}, req)).toBe('9')
    expect(balanceKey({from: 'cookie', name: 'nope'}, req)).toBe('http://h/p')
    expect(cookieValue([], 'a')).toBeUndefined()
  })
})

describe('PeakEwma', () => {
  it('jumps to a higher sample, decays towards a lower one, relaxes to the initial value when idle', () => {
    const e = new PeakEwma({decayMs: 1000, initialMs: 50})
    expect(e.value(0)).toBe(50)
    e.observe(200, 0)
    expect(e.value(0)).toBe(200)
    e.observe(10, 1000) // weight of the old estimate e^-1 on its value relaxed for 1 s
    const relaxed = 50 + 150 * Math.exp(-1)
    expect(e.value(1000)).toBeCloseTo(relaxed * Math.exp(-1) + 10 * (1 - Math.exp(-1)), 6)
    e.observe(500, 1000)
    expect(e.value(1000)).toBe(500)
    expect(e.value(1000 + 20_000)).toBeCloseTo(50, 1)
  })
})

/**
 * Discrete-event simulation: Poisson arrivals over three members, one ten times slower. Picks see the real in-flight
 * counts and latency estimates at their moment; the share sent to the slow member is compared across algorithms.
 */
function simulate(algorithm: 'round-robin' | 'least-connections' | 'p2c-ewma', seed = 42): number {
  const random = seeded(seed)
  const b = createBalancer(algorithm, {random})
  const latency: Record<string, number> = {a: 10, b: 10, slow: 100}
  const state = new Map(Object.keys(latency).map((n) => [n, {inFlight: 0, ewma: new PeakEwma({decayMs: 2000, initialMs: 20})}]))
  const pending: Array<{at: number; name: string; took: number}> = []
  let now = 0
  let slow = 0
  const total = 6000
  for (let i = 0; i < total; i++) {
    now += -Math.log(1 - random()) * (1000 / 300) // 300 req/s
    pending.sort((x, y) => x.at - y.at)
    while (pending.length && pending[0]!.at <= now) {
      const done = pending.shift()!
      const s = state.get(done.name)!
      s.inFlight--
      s.ewma.observe(done.took, done.at)
    }
    const members = [...state].map(([name, s]) => member(name, {inFlight: s.inFlight, ewmaMs: s.ewma.value(now)}))
    const m = b.pick(members)!
    if (m.name === 'slow') slow++
    state.get(m.name)!.inFlight++
    const took = latency[m.name]! * (0.5 + random())
    pending.push({at: now + took, name: m.name, took})
  }
  return slow / total
}

describe('a slow member (simulation)', () => {
  it('gets much less traffic from least-connections and p2c-ewma than from round-robin', () => {
    const rr = simulate('round-robin')
    const lc = simulate('least-connections')
    const p2c = simulate('p2c-ewma')
    console.log(`share to the slow member: round-robin ${rr.toFixed(3)}, least-connections ${lc.toFixed(3)}, p2c-ewma ${p2c.toFixed(3)}`)
    expect(rr).toBeCloseTo(1 / 3, 2)
    expect(lc).toBeLessThan(rr * 0.7)
    expect(p2c).toBeLessThan(rr * 0.5)
  })
})
