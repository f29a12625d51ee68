/**
 * Items 6 and 11 of "Hardening I": every cache operation works for any key length the data plane accepts.
 * A table over key lengths × Vary: store, hit, inspect, verify, admin purge, HTTP PURGE, invalidation by a POST,
 * purge of a directory, verify --all. (RFC 9111 §4.4 for invalidation; the rest is the README's contract.)
 * Lengths are of the cache key `http://hostile.test/…`: 63/64 straddle the lmdb key-encoding limit that broke
 * purges, 3000 is in the "says stored but is not" band, 8000 is past "500 String does not fit in target buffer".
 */
import {describe, expect, it} from 'vitest'

import {type DaemonHandle, type HttpResult} from '../helpers/daemon.js'
import {describe_, tavernStatus, useProxy} from '../helpers/fixture.js'

const HOST = 'hostile.test'
const PREFIX = `http://${HOST}`
let n = 0

/** A path whose cache key `http://hostile.test<path>` is exactly `len` characters, under its own directory. */
function pathOfKeyLength(len: number): {path: string; dir: string} {
  const dir = `/lk${++n}${Math.random().toString(36).slice(2, 6)}/`
  const pad = len - PREFIX.length - dir.length
  if (pad < 1) throw new Error(`key length ${len} too short`)
  let s = ''
  for (let i = 0; s.length < pad; i++) s += String.fromCharCode(97 + (i % 26))
  return {path: dir + s.slice(0, pad), dir}
}

async function ndjsonSummary(r: HttpResult): Promise<Record<string, unknown>> {
  expect(r.status, r.text.slice(0, 300)).toBe(200)
  const lines = r.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
  const s = lines.find((l) => l.type === 'summary')
  expect(s, r.text.slice(0, 300)).toBeDefined()
  return s!
}

async function post(d: DaemonHandle, p: string, body: unknown): Promise<HttpResult> {
  return d.admin(p, {method: 'POST', body: JSON.stringify(body), headers: {'Content-Type': 'application/json'}})
}

const VARY_FIELDS = Array.from({length: 12}, (_, i) => `X-Variant-${i}`)

describe('long cache keys', () => {
  const t = useProxy({config: {cache: {sliceSize: 65536}}})

  const cases: Array<{len: number; vary: 'none' | 'one' | 'many'}> = []
  for (const len of [40, 63, 64, 200, 3000, 8000]) for (const vary of ['none', 'one'] as const) cases.push({len, vary})
  cases.push({len: 200, vary: 'many'}, {len: 63, vary: 'many'})

  for (const c of cases) {
    it(`[items 6, 11] key of ${c.len} characters, vary ${c.vary}: store, hit, inspect, verify, purge, PURGE, POST invalidation, purge --dir, verify --all`, async () => {
      const {path: p, dir} = pathOfKeyLength(c.len)
      const url = PREFIX + p
      const varyNames = c.vary === 'none' ? [] : c.vary === 'one' ? ['Accept-Language'] : VARY_FIELDS
      const reqHeaders: Record<string, string> = {Host: HOST}
      for (const f of varyNames) reqHeaders[f] = f === 'Accept-Language' ? 'en' : `value-of-${f}-${'v'.repeat(40)}`
      t.origin.route(p, (_req, k) => ({headers: {'Cache-Control': 'max-age=3600', ETag: `"e${k}"`, ...(varyNames.length ? {Vary: varyNames.join(', ')} : {})}, body: `body ${k}`}))
      const get = () => t.get(p, {headers: reqHeaders})
      const count = () => t.origin.requestsFor(p).length

      const r1 = await get()
      expect(r1.status, describe_(r1)).toBe(200)
      expect(tavernStatus(r1)?.params.stored, `Cache-Status says it was not stored: ${describe_(r1)}`).toBe(true)
      const r2 = await get()
      expect(r2.text).toBe(r1.text)
      expect(tavernStatus(r2)?.params.hit, `second GET is not a hit: ${describe_(r2)}`).toBe(true)
      expect(count()).toBe(1)

      // inspect-key
      const q = new URLSearchParams({url})
      for (const f of varyNames) q.append('h', `${f}: ${reqHeaders[f]}`)
      const ins = await t.daemon.admin(`/keys/inspect?${q.toString()}`)
      expect(ins.status, ins.text.slice(0, 300)).toBe(200)
      expect((JSON.parse(ins.text) as {stored: boolean}).stored, 'inspect-key says not stored').toBe(true)

      // verify-crc of the URL
      const v = await ndjsonSummary(await post(t.daemon, '/verify', {urls: [url]}))
      expect(v.checked, JSON.stringify(v)).toBeGreaterThanOrEqual(1)
      expect(v.mismatches).toBe(0)

      // admin purge (delete)
      const pu = await post(t.daemon, '/purge', {urls: [url]})
      expect(pu.status, pu.text).toBe(200)
      expect((JSON.parse(pu.text) as {matched: number}).matched, `purge: ${pu.text}`).toBeGreaterThanOrEqual(1)
      const r3 = await get()
      expect(count(), `GET after purge was served from cache: ${describe_(r3)}`).toBe(2)

      // HTTP PURGE (hard)
      const hp = await t.get(p, {method: 'PURGE', headers: {...reqHeaders, 'Purge-Type': 'file,hard'}})
      expect(hp.status, `HTTP PURGE: ${describe_(hp)}`).toBe(200)
      const r4 = await get()
      expect(count(), `GET after HTTP PURGE was served from cache: ${describe_(r4)}`).toBe(3)

      // A successful POST invalidates the URL (RFC 9111 §4.4).
      const po = await t.get(p, {method: 'POST', headers: reqHeaders, body: 'x'})
      expect(po.status).toBe(200)
      const r5 = await get()
      expect(count(), `GET after a POST was served from cache: ${describe_(r5)}`).toBe(5)

      // purge --dir and verify --all
      const pd = await post(t.daemon, '/purge', {dir: PREFIX + dir})
      expect(pd.status, pd.text).toBe(200)
      expect((JSON.parse(pd.text) as {matched: number}).matched, `purge --dir: ${pd.text}`).toBeGreaterThanOrEqual(1)
      const r6 = await get()
      expect(count(), `GET after purge --dir was served from cache: ${describe_(r6)}`).toBe(6)
      const va = await ndjsonSummary(await post(t.daemon, '/verify', {all: true}))
      expect(va.mismatches, JSON.stringify(va)).toBe(0)
    })
  }
})
