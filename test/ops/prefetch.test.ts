import {describe, expect, it} from 'vitest'

import {tavernStatus, useProxy} from '../helpers/fixture.js'
import {sleep, uniquePath} from '../helpers/origin.js'
import {show, tavern} from './helpers.js'

const t = useProxy()

function route(path: string, body = 'x'.repeat(100)): void {
  t.origin.route(path, (req, n) =>
    n > 1 && req.header('if-none-match') === '"p1"'
      ? {status: 304, headers: {ETag: '"p1"', 'Cache-Control': 'max-age=3600'}}
      : {headers: {ETag: '"p1"', 'Cache-Control': 'max-age=3600', 'Content-Type': 'text/plain'}, body},
  )
}

describe('tavern prefetch', () => {
  it('fetches through the daemon so objects land in cache; a second run finds them fresh; --force revalidates', async () => {
    const paths = [uniquePath('pf-a'), uniquePath('pf-b'), uniquePath('pf-c')]
    for (const p of paths) route(p)
    const urls = paths.map((p) => `${t.daemon.url}${p}`)
    const r = await tavern(t.daemon, ['prefetch', ...urls])
    expect(r.code, show(r)).toBe(0)
    expect(r.stdout).toMatch(/prefetched 3 URLs: 3 stored, 0 already fresh, 0 revalidated, 0 failed; 300 B transferred/)
    expect(r.stderr).toBe('') // not a TTY: no progress line
    for (const p of paths) {
      expect(t.origin.countFor(p)).toBe(1)
      const g = await t.get(p)
      expect(tavernStatus(g)?.params.hit, p).toBe(true)
    }
    const again = await tavern(t.daemon, ['prefetch', '--json', ...urls])
    expect(again.code, show(again)).toBe(0)
    const j = again.json()
    expect(j.summary).toMatchObject({type: 'summary', total: 3, ok: 3, fresh: 3, stored: 0, failed: 0})
    expect(j.results.map((x: {outcome: string}) => x.outcome)).toEqual(['fresh', 'fresh', 'fresh'])
    for (const p of paths) expect(t.origin.countFor(p)).toBe(1)

    const forced = await tavern(t.daemon, ['prefetch', '--json', '--force', '-j', '2', ...urls])
    expect(forced.code, show(forced)).toBe(0)
    expect(forced.json().summary).toMatchObject({revalidated: 3, failed: 0})
    for (const p of paths) {
      expect(t.origin.countFor(p)).toBe(2)
      expect(t.origin.requestsFor(p)[1]?.header('if-none-match')).toBe('"p1"')
    }
  })

  it('a failing URL is listed, the others still land, exit 1; --json has every result', async () => {
    const good = uniquePath('pf-good')
    const bad = uniquePath('pf-bad')
    const nostore = uniquePath('pf-nostore')
    route(good)
    t.origin.route(bad, {status: 500, headers: {'Cache-Control': 'no-store'}, body: 'boom'})
    t.origin.route(nostore, {headers: {'Cache-Control': 'no-store'}, body: 'private'})
    const r = await tavern(t.daemon, ['prefetch', `${t.daemon.url}${good}`, `${t.daemon.url}${bad}`, `${t.daemon.url}${nostore}`])
    expect(r.code, show(r)).toBe(1)
    expect(r.stderr).toContain(`failed  ${t.daemon.url}${bad}  (500) HTTP 500`)
    expect(r.stderr).toMatch(new RegExp(`failed  ${t.daemon.url}${nostore}  \\(200\\) not stored`))
    expect(r.stderr).not.toContain(good)
    expect(r.stdout).toMatch(/1 stored, 0 already fresh, 0 revalidated, 2 failed/)

    const j = await tavern(t.daemon, ['prefetch', '--json', `${t.daemon.url}${bad}`, `${t.daemon.url}${good}`])
    expect(j.code).toBe(1)
    const doc = j.json()
    expect(doc.results).toHaveLength(2)
    expect(doc.results.find((x: {url: string}) => x.url.endsWith(bad))).toMatchObject({outcome: 'failed', status: 500, error: 'HTTP 500'})
    expect(doc.results.find((x: {url: string}) => x.url.endsWith(good))).toMatchObject({outcome: 'fresh', status: 200})
    expect(doc.summary).toMatchObject({total: 2, ok: 1, failed: 1})
  })

  it('-H warms a Vary variant; URLs from stdin; a bad URL is a usage error (exit 2)', async () => {
    const p = uniquePath('pf-vary')
    t.origin.route(p, (req) => ({headers: {'Cache-Control': 'max-age=3600', Vary: 'Accept-Language'}, body: `lang=${req.header('accept-language') ?? 'none'}`}))
    const r = await tavern(t.daemon, ['prefetch', '--json', '-H', 'Accept-Language: de', '-'], {stdin: `${t.daemon.url}${p}\n`})
    expect(r.code, show(r)).toBe(0)
    expect(r.json().summary).toMatchObject({stored: 1})
    const de = await t.get(p, {headers: {'accept-language': 'de'}})
    expect(tavernStatus(de)?.params.hit).toBe(true)
    expect(de.text).toBe('lang=de')
    const en = await t.get(p, {headers: {'accept-language': 'en'}})
    expect(tavernStatus(en)?.params.hit).toBeUndefined()

    const bad = await tavern(t.daemon, ['prefetch', 'example.com/nope'])
    expect(bad.code, show(bad)).toBe(2)
    expect(bad.stderr).toMatch(/not an absolute http\(s\) URL/)
    const badH = await tavern(t.daemon, ['prefetch', '-H', 'no colon', `${t.daemon.url}${p}`])
    expect(badH.code, show(badH)).toBe(2)
    const none = await tavern(t.daemon, ['prefetch'])
    expect(none.code).toBe(2)
  })

  it('respects --concurrency: never more than N fetches at the origin at once', async () => {
    const paths = Array.from({length: 6}, (_, i) => uniquePath(`pf-conc-${i}`))
    let active = 0
    let peak = 0
    for (const p of paths) {
      t.origin.route(p, async () => {
        active++
        peak = Math.max(peak, active)
        await sleep(150)
        active--
        return {headers: {'Cache-Control': 'max-age=3600'}, body: 'c'}
      })
    }
    const r = await tavern(t.daemon, ['prefetch', '--json', '-j', '2', ...paths.map((p) => `${t.daemon.url}${p}`)])
    expect(r.code, show(r)).toBe(0)
    expect(r.json().summary).toMatchObject({stored: 6})
    expect(peak).toBe(2)
  })
})
