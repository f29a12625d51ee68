// URLs of 63, 64, 200, 2,000 and 8,000 characters, with and without a many-field Vary, against the built daemon and
// a real origin: stored → hit → CLI purge → miss; HTTP PURGE; invalidation by a POST; CLI directory purge;
// inspect-key and verify-crc --all. (lmdb-js's default key encoding broke all of these from ~64 characters, and
// keys over LMDB's 1978-byte limit were refused or failed with a 500.)
import {describe, it} from 'vitest'

import {describe_, tavernStatus, useProxy} from '../helpers/fixture.js'
import {type RecordedRequest, sleep, uniquePath} from '../helpers/origin.js'
import {show, tavern} from '../ops/helpers.js'

const t = useProxy()

const LENGTHS = [63, 64, 200, 2000, 8000]
const VARY = ['Accept-Language', 'User-Agent', 'X-Device', 'X-Region', 'X-Tenant']

function requestHeaders(n: number): Record<string, string> {
  const long = 'v'.repeat(Math.min(600, n / 4))
  return {'Accept-Language': `en-${long}`, 'User-Agent': `ua/${long}`, 'X-Device': 'phone', 'X-Region': `eu-${long}`, 'X-Tenant': 't1'}
}

const gets = (p: string) => t.origin.requestsFor(p).filter((r: RecordedRequest) => r.method === 'GET').length

describe.each(LENGTHS)('a %i-character URL', (n) => {
  describe.each([false, true])('with Vary: %s', (vary) => {
    // Concurrent: each case has its own paths; ten cases of CLI round trips one after the other take minutes.
    it.concurrent('store → hit → purge → miss; PURGE; POST invalidation; directory purge; inspect-key; verify-crc --all', async ({expect}) => {
      const dir = `${uniquePath(`lk${n}${vary ? 'v' : ''}`)}/d/`
      const prefix = `${t.daemon.url}${dir}`
      const p = dir + 'x'.repeat(n - prefix.length)
      const url = `${t.daemon.url}${p}`
      expect(url.length).toBe(n)
      t.origin.route(p, (req, k) =>
        req.method === 'POST'
          ? {status: 200, headers: {'Cache-Control': 'no-store'}, body: 'posted'}
          : {headers: {'Cache-Control': 'max-age=3600', ETag: `"e${k}"`, 'Content-Type': 'text/plain', ...(vary ? {Vary: VARY.join(', ')} : {})}, body: `body-${k}`},
      )
      const headers = vary ? requestHeaders(n) : undefined
      const hArgs = vary ? Object.entries(headers!).flatMap(([k, v]) => ['-H', `${k}: ${v}`]) : []

      const warm = async (): Promise<void> => {
        const first = await t.get(p, {headers})
        expect(first.status, describe_(first)).toBe(200)
        for (let i = 0; ; i++) {
          const r = await t.get(p, {headers})
          if (tavernStatus(r)?.params.hit === true) return
          if (i > 50) expect.fail(`never became a hit: ${describe_(r)}`)
          await sleep(20)
        }
      }
      const expectMiss = async (what: string): Promise<void> => {
        const before = gets(p)
        const r = await t.get(p, {headers})
        expect(r.status).toBe(200)
        expect(gets(p), `after ${what} the next GET must go to the origin: ${describe_(r)}`).toBe(before + 1)
        expect(tavernStatus(r)?.params.hit).toBeUndefined()
      }

      // Stored, then a hit.
      const first = await t.get(p, {headers})
      expect(tavernStatus(first)?.params.stored, describe_(first)).toBe(true)
      await warm()

      // inspect-key sees it (and, with Vary, which variant these headers select).
      const ins = await tavern(t.daemon, ['inspect-key', '--json', url, ...hArgs])
      expect(ins.code, show(ins)).toBe(0)
      const j = ins.json()
      expect(j).toMatchObject({key: url, stored: true})
      expect(j.variants).toHaveLength(1)
      if (vary) {
        expect(j.vary.names).toEqual(VARY.map((v) => v.toLowerCase()))
        expect(j.selection).toMatchObject({stored: true})
      }

      // verify-crc --all reads every stored body, this one included.
      const ver = await tavern(t.daemon, ['verify-crc', '--all', '--json'], {timeoutMs: 60_000})
      expect(ver.code, show(ver)).toBe(0)
      expect(ver.json().summary).toMatchObject({mismatches: 0})
      expect(ver.json().summary.checked).toBeGreaterThanOrEqual(1)

      // CLI purge of the URL: matched, and the next GET is a miss.
      const pr = await tavern(t.daemon, ['purge', '--json', url])
      expect(pr.code, show(pr)).toBe(0)
      expect(pr.json()).toMatchObject({matched: 1, purged: 1})
      await expectMiss('tavern purge')

      // HTTP PURGE (hard): 200 with one match; the next GET is a miss.
      await warm()
      const hp = await t.daemon.request(p, {method: 'PURGE', headers: {'Purge-Type': 'file,hard'}})
      expect(hp.status, hp.text).toBe(200)
      expect(JSON.parse(hp.text)).toMatchObject({matched: 1, purged: 1})
      await expectMiss('HTTP PURGE')

      // A POST answered 200 invalidates the URL (RFC 9111 §4.4).
      await warm()
      const post = await t.get(p, {method: 'POST', body: 'update', headers: {...headers, 'Content-Type': 'text/plain'}})
      expect(post.status).toBe(200)
      await expectMiss('a POST')

      // Directory purge over the URL's directory.
      await warm()
      const dp = await tavern(t.daemon, ['purge', '--json', '--dir', prefix])
      expect(dp.code, show(dp)).toBe(0)
      expect(dp.json().matched).toBeGreaterThanOrEqual(1)
      await expectMiss('tavern purge --dir')
    }, 60_000)
  })
})
