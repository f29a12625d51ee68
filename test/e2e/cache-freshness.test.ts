// RFC 9111 §4.2 freshness: max-age, s-maxage, Expires (+ Date), Age, heuristics.
import {describe, expect, it} from 'vitest'

import {describe_, useProxy} from '../helpers/fixture.js'
import {httpDate, type ResponseSpec, sleep, uniquePath} from '../helpers/origin.js'

const t = useProxy()

/** Route `spec` (body "v<n>") on a fresh path, GET it twice; returns the origin count and both responses. */
async function twice(headers: ResponseSpec['headers'], extra: Partial<ResponseSpec> = {}) {
  const p = uniquePath('fresh')
  t.origin.route(p, (_r, n) => ({headers, body: `v${n}`, ...extra}))
  const r1 = await t.get(p)
  const r2 = await t.get(p)
  return {p, r1, r2, count: t.origin.countFor(p)}
}

describe('explicit freshness', () => {
  it('max-age: a fresh response is reused', async () => {
    const {r1, r2, count} = await twice({'Cache-Control': 'max-age=3600'})
    expect(r1.text).toBe('v1')
    expect(count, describe_(r2)).toBe(1)
    expect(r2.status).toBe(200)
    expect(r2.text).toBe('v1')
    expect(r2.header('age')).toMatch(/^\d+$/)
  })

  it('max-age=0: not reused without contacting the origin', async () => {
    const {r2, count} = await twice({'Cache-Control': 'max-age=0'})
    expect(count).toBe(2)
    expect(r2.text).toBe('v2')
  })

  it('max-age=2: reused, then not reused once it has expired', async () => {
    // max-age=2 rather than 1: Date has one-second resolution, so up to ~1 s of apparent age is legitimate.
    const p = uniquePath('fresh')
    t.origin.route(p, (_r, n) => ({headers: {'Cache-Control': 'max-age=2'}, body: `v${n}`}))
    await t.get(p)
    const r2 = await t.get(p)
    expect(t.origin.countFor(p), describe_(r2)).toBe(1)
    await sleep(3100)
    const r3 = await t.get(p)
    expect(t.origin.countFor(p), describe_(r3)).toBe(2)
    expect(r3.text).toBe('v2')
  })

  it('directive names are case-insensitive (MAX-AGE=3600)', async () => {
    const {count} = await twice({'Cache-Control': 'MAX-AGE=3600'})
    expect(count).toBe(1)
  })

  it('unknown Cache-Control extensions are ignored', async () => {
    const {count} = await twice({'Cache-Control': 'max-age=3600, x-unknown-ext="a, b", other-ext'})
    expect(count).toBe(1)
  })

  it('s-maxage wins over max-age for a shared cache (s-maxage=3600, max-age=0 → reused)', async () => {
    const {count} = await twice({'Cache-Control': 'max-age=0, s-maxage=3600'})
    expect(count).toBe(1)
  })

  it('s-maxage wins over max-age for a shared cache (s-maxage=0, max-age=3600 → not reused)', async () => {
    const {count} = await twice({'Cache-Control': 'max-age=3600, s-maxage=0'})
    expect(count).toBe(2)
  })

  it('Expires in the future: reused', async () => {
    const {count} = await twice({Date: httpDate(0), Expires: httpDate(3600)})
    expect(count).toBe(1)
  })

  it('Expires in the past: not reused', async () => {
    const {count} = await twice({Date: httpDate(0), Expires: httpDate(-3600)})
    expect(count).toBe(2)
  })

  it('Expires equal to Date: not reused', async () => {
    const d = httpDate(0)
    const {count} = await twice({Date: d, Expires: d})
    expect(count).toBe(2)
  })

  it('invalid Expires ("0") is treated as already expired', async () => {
    const {count} = await twice({Date: httpDate(0), Expires: '0'})
    expect(count).toBe(2)
  })

  it('invalid Expires (garbage) is treated as already expired', async () => {
    const {count} = await twice({Date: httpDate(0), Expires: 'not a date'})
    expect(count).toBe(2)
  })

  it('max-age wins over a past Expires', async () => {
    const {count} = await twice({'Cache-Control': 'max-age=3600', Expires: httpDate(-3600)})
    expect(count).toBe(1)
  })

  it('max-age=0 wins over a future Expires', async () => {
    const {count} = await twice({'Cache-Control': 'max-age=0', Expires: httpDate(3600)})
    expect(count).toBe(2)
  })

  it('Expires is relative to Date (origin clock 1 h ahead; Expires − Date < 0 → not reused)', async () => {
    // By our clock Expires is 60 s in the future, but the lifetime is Expires − Date = −3540 s.
    const {count} = await twice({Date: httpDate(3600), Expires: httpDate(60)})
    expect(count).toBe(2)
  })

  it('Date an hour old with Expires = Date + 1 h: the apparent age (now − Date) makes it stale → not reused', async () => {
    const {count} = await twice({Date: httpDate(-3600), Expires: httpDate(0)})
    expect(count).toBe(2) // apparent_age = now − Date = 3600 s ≥ lifetime → stale
  })
})

describe('Age from upstream', () => {
  it('max-age=10 with Age: 15 is stale on arrival → not reused', async () => {
    const {count} = await twice({'Cache-Control': 'max-age=10', Age: '15'})
    expect(count).toBe(2)
  })

  it('max-age=3600 with Age: 15 is reused and the hit carries Age ≥ 15', async () => {
    const {r2, count} = await twice({'Cache-Control': 'max-age=3600', Age: '15'})
    expect(count).toBe(1)
    expect(Number(r2.header('age'))).toBeGreaterThanOrEqual(15)
  })

  it('s-maxage=10 with Age: 15 → not reused', async () => {
    const {count} = await twice({'Cache-Control': 's-maxage=10', Age: '15'})
    expect(count).toBe(2)
  })

  it('Age on hits increases over time', async () => {
    const p = uniquePath('age')
    t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'aged'})
    await t.get(p)
    const a = await t.get(p)
    await sleep(2100)
    const b = await t.get(p)
    expect(t.origin.countFor(p)).toBe(1)
    const ageA = Number(a.header('age'))
    const ageB = Number(b.header('age'))
    expect(Number.isInteger(ageA)).toBe(true)
    expect(ageB - ageA).toBeGreaterThanOrEqual(1)
    expect(ageB).toBeGreaterThanOrEqual(2)
  })
})

describe('heuristic freshness', () => {
  it('200 with Last-Modified a day ago and no explicit freshness is reused (optional)', async () => {
    const {count} = await twice({'Last-Modified': httpDate(-86400), Date: httpDate(0)})
    expect(count).toBe(1)
  })

  it('404 with Last-Modified is heuristically cacheable (optional)', async () => {
    const {count} = await twice({'Last-Modified': httpDate(-86400), Date: httpDate(0)}, {status: 404})
    expect(count).toBe(1)
  })

  it('301 with Last-Modified is heuristically cacheable (optional)', async () => {
    const {count} = await twice({'Last-Modified': httpDate(-86400), Date: httpDate(0), Location: '/elsewhere'}, {status: 301})
    expect(count).toBe(1)
  })

  for (const status of [201, 302, 307, 403, 500, 503]) {
    it(`no heuristic freshness for ${status} (not cacheable by default)`, async () => {
      const {count} = await twice({'Last-Modified': httpDate(-86400), Date: httpDate(0), Location: '/elsewhere'}, {status})
      expect(count).toBe(2)
    })
  }

  it('302 with explicit max-age is reused', async () => {
    const {count, r2} = await twice({'Cache-Control': 'max-age=3600', Location: '/elsewhere'}, {status: 302})
    expect(count).toBe(1)
    expect(r2.status).toBe(302)
    expect(r2.header('location')).toBe('/elsewhere')
  })

  it('404 with explicit max-age is reused', async () => {
    const {count, r2} = await twice({'Cache-Control': 'max-age=3600'}, {status: 404})
    expect(count).toBe(1)
    expect(r2.status).toBe(404)
  })

  it('a response with no freshness information and no validator is not reused', async () => {
    const {r2, count} = await twice({'Content-Type': 'text/plain'})
    expect(count).toBe(2)
    expect(r2.text).toBe('v2')
  })
})
