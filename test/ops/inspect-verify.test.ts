import fs from 'node:fs'

import {describe, expect, it} from 'vitest'

import {describe_, tavernStatus, useProxy} from '../helpers/fixture.js'
import {sleep, uniquePath} from '../helpers/origin.js'
import {show, tavern} from './helpers.js'

const t = useProxy()

async function warm(path: string, headers?: Record<string, string>): Promise<void> {
  await t.get(path, {headers})
  for (let i = 0; ; i++) {
    const r = await t.get(path, {headers})
    if (tavernStatus(r)?.params.hit === true) return
    if (i > 50) expect.fail(`never became a hit: ${describe_(r)}`)
    await sleep(20)
  }
}

describe('tavern inspect-key', () => {
  it('--json: key, variant status, size, headers, freshness and its source, validators, crc32c, tier, body file', async () => {
    const p = uniquePath('ins')
    t.origin.route(p, {headers: {'Cache-Control': 'max-age=600', ETag: '"i1"', 'Content-Type': 'text/plain', 'X-Custom': 'yes'}, body: 'inspect me'})
    await warm(p)
    const url = `${t.daemon.url}${p}?b=2&a=1`
    const r = await tavern(t.daemon, ['inspect-key', '--json', `${t.daemon.url}${p}`])
    expect(r.code, show(r)).toBe(0)
    const j = r.json()
    expect(j).toMatchObject({url: `${t.daemon.url}${p}`, key: `${t.daemon.url}${p}`, stored: true, vary: null})
    expect(j.variants).toHaveLength(1)
    const v = j.variants[0]
    expect(v).toMatchObject({
      variant: '',
      status: 200,
      size: 10,
      state: 'fresh',
      freshness: {lifetime: 600, source: 'max-age'},
      validators: {etag: '"i1"'},
      directives: {noCache: false, mustRevalidate: false},
    })
    expect(v.freshness.ttl).toBeGreaterThan(590)
    expect(v.crc32c).toMatch(/^[0-9a-f]{8}$/)
    expect(['memory', 'disk']).toContain(v.tier)
    expect(v.headers).toContainEqual(['X-Custom', 'yes'])
    expect(fs.readFileSync(v.bodyPath, 'utf8')).toBe('inspect me')
    expect(typeof v.date).toBe('string')
    // An unrelated query string is another key, and not cached.
    const other = await tavern(t.daemon, ['inspect-key', '--json', url])
    expect(other.json()).toMatchObject({stored: false, variants: []})
  })

  it('human layout; "not cached" exits 0, or 1 with --strict', async () => {
    const p = uniquePath('ins-human')
    t.origin.route(p, {headers: {'Cache-Control': 'max-age=60, must-revalidate', 'Last-Modified': 'Mon, 01 Jan 2024 00:00:00 GMT'}, body: 'hello'})
    await warm(p)
    const r = await tavern(t.daemon, ['inspect-key', `${t.daemon.url}${p}`])
    expect(r.code, show(r)).toBe(0)
    expect(r.stdout).toMatch(/stored\s+yes, 1 variant/)
    expect(r.stdout).toMatch(/freshness\s+60s from Cache-Control max-age/)
    expect(r.stdout).toMatch(/state\s+fresh/)
    expect(r.stdout).toMatch(/validators\s+Last-Modified Mon, 01 Jan 2024/)
    expect(r.stdout).toMatch(/directives\s+must-revalidate/)
    expect(r.stdout).toMatch(/body file\s+\//)
    const missing = `${t.daemon.url}${uniquePath('ins-missing')}`
    const nc = await tavern(t.daemon, ['inspect-key', missing])
    expect(nc.code, show(nc)).toBe(0)
    expect(nc.stdout).toMatch(/not cached/)
    const strict = await tavern(t.daemon, ['inspect-key', '--strict', missing])
    expect(strict.code).toBe(1)
    const strictJson = await tavern(t.daemon, ['inspect-key', '--strict', '--json', missing])
    expect(strictJson.code).toBe(1)
    expect(strictJson.json()).toMatchObject({stored: false})
    const bad = await tavern(t.daemon, ['inspect-key', '/relative'])
    expect(bad.code, show(bad)).toBe(2)
  })

  it('lists Vary variants and, with -H, which one the request headers select', async () => {
    const p = uniquePath('ins-vary')
    t.origin.route(p, (req) => ({headers: {'Cache-Control': 'max-age=600', Vary: 'Accept-Language'}, body: `lang=${req.header('accept-language')}`}))
    await warm(p, {'accept-language': 'en'})
    await warm(p, {'accept-language': 'fr'})
    const r = await tavern(t.daemon, ['inspect-key', '--json', `${t.daemon.url}${p}`, '-H', 'Accept-Language: fr'])
    expect(r.code, show(r)).toBe(0)
    const j = r.json()
    expect(j.vary.names).toEqual(['accept-language'])
    expect(j.variants.map((v: {variant: string}) => v.variant).sort()).toEqual(['accept-language=en', 'accept-language=fr'])
    expect(j.selection).toMatchObject({variant: 'accept-language=fr', stored: true})
    expect(j.variants.find((v: {selected: boolean}) => v.selected).variant).toBe('accept-language=fr')
    const human = await tavern(t.daemon, ['inspect-key', `${t.daemon.url}${p}`, '-H', 'Accept-Language: de'])
    expect(human.stdout).toMatch(/selects\s+accept-language=de \(not stored/)
  })

  it('shows why a variant is stale: expired by purge, or its lifetime ran out', async () => {
    const p = uniquePath('ins-stale')
    t.origin.route(p, {headers: {'Cache-Control': 'max-age=1', ETag: '"s"'}, body: 'soon stale'})
    await warm(p)
    await tavern(t.daemon, ['purge', '--expire', `${t.daemon.url}${p}`])
    const r = await tavern(t.daemon, ['inspect-key', `${t.daemon.url}${p}`])
    expect(r.stdout).toMatch(/state\s+STALE: invalidated by purge/)
    expect(r.stdout).toMatch(/purged\s+marked expired at/)
    const q = uniquePath('ins-expired')
    t.origin.route(q, {headers: {'Cache-Control': 'max-age=1', ETag: '"s"'}, body: 'x'})
    await warm(q)
    await sleep(2100)
    const e = await tavern(t.daemon, ['inspect-key', '--json', `${t.daemon.url}${q}`])
    expect(e.json().variants[0]).toMatchObject({state: 'stale', freshness: {lifetime: 1, source: 'max-age'}})
    expect(e.json().variants[0].staleReason).toMatch(/freshness lifetime \(1s, Cache-Control max-age\) exceeded/)
  })
})

describe('tavern verify-crc', () => {
  it('all good: exit 0 with a summary; --json has the summary and no mismatches', async () => {
    const p = uniquePath('vc-ok')
    t.origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: 'y'.repeat(5000)})
    await warm(p)
    const r = await tavern(t.daemon, ['verify-crc', `${t.daemon.url}${p}`])
    expect(r.code, show(r)).toBe(0)
    expect(r.stdout).toMatch(/verified 1 object \(4\.88 KiB\) in [\d.]+s: 1 ok, 0 mismatches/)
    const j = await tavern(t.daemon, ['verify-crc', '--json', '--all', '--rate', '100'])
    expect(j.code, show(j)).toBe(0)
    expect(j.json().mismatches).toEqual([])
    expect(j.json().summary.checked).toBeGreaterThanOrEqual(1)
    const none = await tavern(t.daemon, ['verify-crc'])
    expect(none.code, show(none)).toBe(2)
  })

  it('detects a body file corrupted on disk (exit 1, listed), and --purge-bad removes it so it is refetched', async () => {
    const base = uniquePath('vc-bad')
    const p = `${base}/obj`
    const ok = `${base}/fine`
    t.origin.route(p, (_r, n) => ({headers: {'Cache-Control': 'max-age=600'}, body: `payload-${n}-`.repeat(100)}))
    t.origin.route(ok, {headers: {'Cache-Control': 'max-age=600'}, body: 'fine'})
    await warm(p)
    await warm(ok)
    const ins = (await tavern(t.daemon, ['inspect-key', '--json', `${t.daemon.url}${p}`])).json()
    const file = ins.variants[0].bodyPath as string
    const buf = fs.readFileSync(file)
    buf[10] = buf[10]! ^ 0xff
    fs.writeFileSync(file, buf)

    const r = await tavern(t.daemon, ['verify-crc', '--dir', `${t.daemon.url}${base}/`])
    expect(r.code, show(r)).toBe(1)
    expect(r.stdout).toContain(`MISMATCH ${t.daemon.url}${p}: expected crc32c ${ins.variants[0].crc32c}`)
    expect(r.stdout).toMatch(/verified 2 objects .*: 1 ok, 1 mismatch/)

    const j = await tavern(t.daemon, ['verify-crc', '--json', '--dir', `${base}/`, '--host', t.daemon.host])
    expect(j.code).toBe(1)
    expect(j.json().mismatches).toEqual([
      expect.objectContaining({url: `${t.daemon.url}${p}`, key: `${t.daemon.url}${p}`, bodyPath: file, expectedCrc32c: ins.variants[0].crc32c, expectedSize: 1000, actualSize: 1000, purged: false}),
    ])

    const fixed = await tavern(t.daemon, ['verify-crc', '--purge-bad', `${t.daemon.url}${p}`, `${t.daemon.url}${ok}`])
    expect(fixed.code, show(fixed)).toBe(0)
    expect(fixed.stdout).toMatch(/— purged/)
    expect(fixed.stdout).toMatch(/1 mismatch, 1 purged/)
    const after = await tavern(t.daemon, ['inspect-key', '--json', `${t.daemon.url}${p}`])
    expect(after.json().stored).toBe(false)
    const g = await t.get(p)
    expect(g.text).toBe('payload-2-'.repeat(100))
    expect(t.origin.countFor(p)).toBe(2)
    const clean = await tavern(t.daemon, ['verify-crc', '--dir', `${t.daemon.url}${base}/`])
    expect(clean.code, show(clean)).toBe(0)
  })
})

describe('daemon unreachable', () => {
  it('every ops command exits 3 with a hint on stderr (and one JSON error document with --json)', async () => {
    const sock = '/tmp/tavern-ops-no-such.sock'
    for (const args of [['purge', 'http://x/a'], ['purge', '--json', 'http://x/a'], ['prefetch', 'http://x/a'], ['inspect-key', 'http://x/a'], ['verify-crc', '--all'], ['verify-crc', '--all', '--json']]) {
      const r = await tavern(sock, args)
      expect(r.code, `${args.join(' ')}\n${show(r)}`).toBe(3)
      expect(r.stderr).toMatch(/no tavern daemon answers/)
      if (args.includes('--json')) expect(JSON.parse(r.stdout)).toEqual({error: {code: 'TAVERN_ERR_UNREACHABLE', message: expect.stringContaining('no tavern daemon answers')}})
      else expect(r.stdout).toBe('')
    }
  })
})
