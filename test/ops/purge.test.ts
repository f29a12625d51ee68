import {describe, expect, it} from 'vitest'

import {describe_, tavernStatus, useProxy} from '../helpers/fixture.js'
import {sleep, uniquePath} from '../helpers/origin.js'
import {show, tavern} from './helpers.js'

const t = useProxy()

/** Route a path to a cacheable body that names the origin request count: `${tag}${n}`. */
function cacheable(path: string, tag = 'v', extra: Record<string, string> = {}): void {
  t.origin.route(path, (_r, n) => ({headers: {'Cache-Control': 'max-age=3600', 'Content-Type': 'text/plain', ...extra}, body: `${tag}${n}`}))
}

async function warm(path: string, headers?: Record<string, string>): Promise<void> {
  const r = await t.get(path, {headers})
  expect(r.status, describe_(r)).toBe(200)
  // The fill commits just after the body went out: wait until the object answers as a hit.
  for (let i = 0; ; i++) {
    const again = await t.get(path, {headers})
    if (tavernStatus(again)?.params.hit === true) return
    if (i > 50) expect.fail(`never became a hit: ${describe_(again)}`)
    await sleep(20)
  }
}

async function isHit(path: string, headers?: Record<string, string>): Promise<boolean> {
  const r = await t.get(path, {headers})
  return tavernStatus(r)?.params.hit === true
}

describe('tavern purge URL', () => {
  it('deletes a cached object; the next request goes to the origin (human output, exit 0)', async () => {
    const p = uniquePath('purge-one')
    cacheable(p)
    await warm(p)
    const r = await tavern(t.daemon, ['purge', `${t.daemon.url}${p}`])
    expect(r.code, show(r)).toBe(0)
    expect(r.stdout).toMatch(/purge: 1 matched, 1 deleted, 2 B freed/)
    expect(r.stdout).toContain(`${t.daemon.url}${p}  1 object deleted`)
    const after = await t.get(p)
    expect(after.text).toBe('v2')
    expect(t.origin.countFor(p)).toBe(2)
  })

  it('--json prints one document with counts and per-URL results', async () => {
    const p = uniquePath('purge-json')
    cacheable(p)
    await warm(p)
    const r = await tavern(t.daemon, ['purge', '--json', `${t.daemon.url}${p}`])
    expect(r.code, show(r)).toBe(0)
    const j = r.json()
    expect(j).toMatchObject({mode: 'delete', matched: 1, purged: 1, bytesFreed: 2})
    expect(j.results).toEqual([{url: `${t.daemon.url}${p}`, key: `${t.daemon.url}${p}`, matched: 1, purged: 1, expired: 0, bytesFreed: 2}])
  })

  it('removes every Vary variant of the URL', async () => {
    const p = uniquePath('purge-vary')
    t.origin.route(p, (r) => ({headers: {'Cache-Control': 'max-age=3600', Vary: 'Accept-Language'}, body: `lang=${r.header('accept-language')}`}))
    await warm(p, {'accept-language': 'en'})
    await warm(p, {'accept-language': 'de'})
    const r = await tavern(t.daemon, ['purge', '--json', `${t.daemon.url}${p}`])
    expect(r.json()).toMatchObject({matched: 2, purged: 2})
    expect(await isHit(p, {'accept-language': 'en'})).toBe(false)
    expect(await isHit(p, {'accept-language': 'de'})).toBe(false)
  })

  it('a URL that is not cached is not an error (exit 0, matched 0) unless --strict (exit 1)', async () => {
    const url = `${t.daemon.url}${uniquePath('never-cached')}`
    const a = await tavern(t.daemon, ['purge', url])
    expect(a.code, show(a)).toBe(0)
    expect(a.stdout).toContain('not cached')
    const b = await tavern(t.daemon, ['purge', '--json', url])
    expect(b.code).toBe(0)
    expect(b.json()).toMatchObject({matched: 0, purged: 0, bytesFreed: 0})
    const c = await tavern(t.daemon, ['purge', '--strict', url])
    expect(c.code, show(c)).toBe(1)
    expect(c.stderr).toMatch(/--strict/)
    const d = await tavern(t.daemon, ['purge', '--strict', '--json', url])
    expect(d.code).toBe(1)
    expect(d.json()).toMatchObject({matched: 0})
  })

  it('reads URLs from stdin ("-") and from --file; paths with --host', async () => {
    const [a, b, c] = [uniquePath('list-a'), uniquePath('list-b'), uniquePath('list-c')]
    for (const p of [a, b, c]) {
      cacheable(p)
      await warm(p)
    }
    const fromStdin = await tavern(t.daemon, ['purge', '--json', '-'], {stdin: `# a comment\n${t.daemon.url}${a}\n\n${t.daemon.url}${b}\n`})
    expect(fromStdin.code, show(fromStdin)).toBe(0)
    expect(fromStdin.json()).toMatchObject({matched: 2, purged: 2})
    const fromHost = await tavern(t.daemon, ['purge', '--json', '--host', t.daemon.host, c])
    expect(fromHost.json()).toMatchObject({matched: 1, results: [{key: `${t.daemon.url}${c}`}]})
    const fs = await import('node:fs')
    const os = await import('node:os')
    const path = await import('node:path')
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-ops-')), 'urls.txt')
    fs.writeFileSync(file, `${t.daemon.url}${a}\n${t.daemon.url}${c}\n`)
    const fromFile = await tavern(t.daemon, ['purge', '--json', '--file', file])
    expect(fromFile.json().results).toHaveLength(2)
    fs.rmSync(path.dirname(file), {recursive: true, force: true})
  })

  it('usage errors exit 2: nothing to purge, a URL that is not absolute, a directory without a host', async () => {
    const none = await tavern(t.daemon, ['purge'])
    expect(none.code, show(none)).toBe(2)
    const bad = await tavern(t.daemon, ['purge', 'not-a-url'])
    expect(bad.code, show(bad)).toBe(2)
    expect(bad.stderr).toMatch(/not an absolute http\(s\) URL/)
    const badJson = await tavern(t.daemon, ['purge', '--json', 'ftp://x/y'])
    expect(badJson.code).toBe(2)
    // --json: the error as one document on stdout, with its catalogue code.
    expect(JSON.parse(badJson.stdout)).toEqual({error: {code: 'TAVERN_ERR_BAD_URL', message: expect.stringContaining('not an absolute http(s) URL')}})
    const dir = await tavern(t.daemon, ['purge', '--dir', '/static/'])
    expect(dir.code, show(dir)).toBe(2)
    expect(dir.stderr).toMatch(/needs a host/)
  })
})

describe('tavern purge --dir', () => {
  function tree(): {base: string; inside: string[]; outside: string[]} {
    const base = uniquePath('tree')
    const inside = [`${base}/static/a.js`, `${base}/static/sub/b.css`, `${base}/static/c.txt?v=2`]
    const outside = [`${base}/static-old/a.js`, `${base}/staticfile`, `${base}/static`, `${base}/other/static/a.js`]
    for (const p of [...inside, ...outside]) cacheable(p.replace(/\?.*/, ''))
    return {base, inside, outside}
  }

  it('deletes exactly what is under the prefix: /static/ never hits /static-old/, /staticfile or /static itself', async () => {
    const {base, inside, outside} = tree()
    for (const p of [...inside, ...outside]) await warm(p)
    const r = await tavern(t.daemon, ['purge', '--json', '--dir', `${t.daemon.url}${base}/static/`])
    expect(r.code, show(r)).toBe(0)
    expect(r.json()).toMatchObject({mode: 'delete', matched: 3, purged: 3, results: [{dir: true, key: `${t.daemon.url}${base}/static/`}]})
    for (const p of inside) expect(await isHit(p), p).toBe(false)
    for (const p of outside) expect(await isHit(p), p).toBe(true)
  })

  it('a prefix without the trailing slash is still path-boundary correct; --host form; human output', async () => {
    const {base, inside, outside} = tree()
    for (const p of [...inside, ...outside]) await warm(p)
    const r = await tavern(t.daemon, ['purge', '--dir', `${base}/static`, '--host', t.daemon.host])
    expect(r.code, show(r)).toBe(0)
    expect(r.stdout).toMatch(/purge: 3 matched, 3 deleted/)
    for (const p of inside) expect(await isHit(p), p).toBe(false)
    for (const p of outside) expect(await isHit(p), p).toBe(true)
  })

  it('--expire marks the directory stale: objects stay stored and are revalidated on the next request', async () => {
    const base = uniquePath('tree-exp')
    const ins = `${base}/static/x.js`
    const out = `${base}/static-old/x.js`
    for (const p of [ins, out]) {
      t.origin.route(p, (req, n) =>
        n > 1 && req.header('if-none-match') === '"x1"'
          ? {status: 304, headers: {ETag: '"x1"', 'Cache-Control': 'max-age=3600'}}
          : {headers: {ETag: '"x1"', 'Cache-Control': 'max-age=3600'}, body: 'body-x'},
      )
      await warm(p)
    }
    const r = await tavern(t.daemon, ['purge', '--json', '--expire', '--dir', `${t.daemon.url}${base}/static/`])
    expect(r.json()).toMatchObject({mode: 'expire', matched: 1, purged: 1, bytesFreed: 0})
    const again = await t.get(ins)
    expect(again.text).toBe('body-x')
    expect(t.origin.requestsFor(ins).at(-1)?.header('if-none-match')).toBe('"x1"')
    expect(await isHit(out)).toBe(true)
    expect(t.origin.countFor(out)).toBe(1)
  })

  it('matching nothing is exit 0, or 1 with --strict', async () => {
    const dir = `${t.daemon.url}${uniquePath('empty-dir')}/`
    const a = await tavern(t.daemon, ['purge', '--dir', dir])
    expect(a.code, show(a)).toBe(0)
    const b = await tavern(t.daemon, ['purge', '--dir', dir, '--strict'])
    expect(b.code, show(b)).toBe(1)
  })
})

describe('purge semantics', () => {
  it('expire then revalidate: the origin gets If-None-Match, answers 304, the client gets the stored body', async () => {
    const p = uniquePath('expire-reval')
    t.origin.route(p, (req, n) =>
      n > 1 && req.header('if-none-match') === '"e1"'
        ? {status: 304, headers: {ETag: '"e1"', 'Cache-Control': 'max-age=3600'}}
        : {headers: {ETag: '"e1"', 'Cache-Control': 'max-age=3600', 'Content-Type': 'text/plain'}, body: `original-${n}`},
    )
    await warm(p)
    const r = await tavern(t.daemon, ['purge', '--expire', `${t.daemon.url}${p}`])
    expect(r.code, show(r)).toBe(0)
    expect(r.stdout).toMatch(/1 marked expired/)
    const after = await t.get(p)
    expect(after.status).toBe(200)
    expect(after.text).toBe('original-1')
    expect(t.origin.countFor(p)).toBe(2)
    const cond = t.origin.requestsFor(p)[1]!
    expect(cond.header('if-none-match')).toBe('"e1"')
    // Revalidated: fresh again, served from cache without the origin.
    expect(await isHit(p)).toBe(true)
    expect(t.origin.countFor(p)).toBe(2)
  })

  it('a purge racing a fill: the fill is not resurrected, the next request goes to the origin and gets new data', async () => {
    const p = uniquePath('race')
    const gate = deferred()
    t.origin.route(p, (_r, n) => ({
      headers: {'Cache-Control': 'max-age=3600', 'Content-Type': 'text/plain', ...(n === 1 ? {'Content-Length': '200'} : {})},
      body: n === 1 ? gated('OLD-'.repeat(50), gate.promise) : 'NEW',
    }))
    const slow = t.get(p)
    await t.origin.waitForCount(p, 1)
    await sleep(100) // the first half of the body is streaming; the fill waits for the rest
    const purge = await tavern(t.daemon, ['purge', '--json', `${t.daemon.url}${p}`])
    expect(purge.code, show(purge)).toBe(0)
    gate.resolve()
    const first = await slow
    expect(first.text).toBe('OLD-'.repeat(50)) // the client that started the fill still gets a complete body
    await sleep(100)
    const next = await t.get(p)
    expect(next.text, describe_(next)).toBe('NEW')
    expect(t.origin.countFor(p)).toBe(2)
    const inspect = await tavern(t.daemon, ['inspect-key', '--json', `${t.daemon.url}${p}`])
    expect(inspect.json().variants.map((v: {size: number}) => v.size)).toEqual([3])
  })
})

function deferred(): {promise: Promise<void>; resolve: () => void} {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return {promise, resolve}
}

/** Half of the body now, the rest once `gate` resolves (so a test can act while the fill is in progress). */
function gated(body: string, gate: Promise<void>): () => AsyncGenerator<string> {
  return async function* () {
    yield body.slice(0, body.length / 2)
    await gate
    yield body.slice(body.length / 2)
  }
}

describe('purge --expire racing a fill', () => {
  it('the object filled meanwhile is stored already expired: the next request revalidates', async () => {
    const p = uniquePath('race-expire')
    const gate = deferred()
    t.origin.route(p, (req, n) =>
      n > 1 && req.header('if-none-match') === '"r1"'
        ? {status: 304, headers: {ETag: '"r1"', 'Cache-Control': 'max-age=3600'}}
        : {headers: {ETag: '"r1"', 'Cache-Control': 'max-age=3600', 'Content-Length': '200'}, body: gated('R'.repeat(200), gate.promise)},
    )
    const slow = t.get(p)
    await t.origin.waitForCount(p, 1)
    await sleep(100)
    const purge = await tavern(t.daemon, ['purge', '--expire', `${t.daemon.url}${p}`])
    expect(purge.code, show(purge)).toBe(0)
    gate.resolve()
    expect((await slow).text).toBe('R'.repeat(200))
    await sleep(100)
    const next = await t.get(p)
    expect(next.text).toBe('R'.repeat(200))
    expect(t.origin.countFor(p)).toBe(2)
    expect(t.origin.requestsFor(p)[1]?.header('if-none-match')).toBe('"r1"')
  })
})

describe('admin API shapes (what the CLI is a client of)', () => {
  const post = (path: string, body: unknown) =>
    t.daemon.admin(path, {method: 'POST', headers: {'content-type': 'application/json'}, body: typeof body === 'string' ? body : JSON.stringify(body)})

  it('POST /purge accepts {url} as well as {urls}; errors are 400 {error: {code, message}} and change nothing', async () => {
    const p = uniquePath('api-purge')
    cacheable(p)
    await warm(p)
    for (const [body, code] of [
      ['{nope', 'TAVERN_ERR_BAD_JSON'],
      [{url: `${t.daemon.url}${p}`, mode: 'nuke'}, 'TAVERN_ERR_BAD_MODE'],
      [{urls: [`${t.daemon.url}${p}`, 'relative/x']}, 'TAVERN_ERR_BAD_URL'],
      [{dir: 'static/'}, 'TAVERN_ERR_BAD_PREFIX'],
      [{mode: 'delete'}, 'TAVERN_ERR_BAD_ARGUMENT'],
      [[1, 2], 'TAVERN_ERR_BAD_ARGUMENT'],
    ] as const) {
      const r = await post('/purge', body)
      expect(r.status, JSON.stringify(body)).toBe(400)
      expect(JSON.parse(r.text).error).toMatchObject({code})
      expect(typeof JSON.parse(r.text).error.message).toBe('string')
    }
    expect(await isHit(p)).toBe(true)
    const ok = await post('/purge', {url: `${t.daemon.url}${p}`, mode: 'expire'})
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.text)).toMatchObject({mode: 'expire', matched: 1, purged: 1, bytesFreed: 0})
  })

  it('GET /keys/inspect, POST /prefetch and POST /verify reject bad input with 400 before streaming', async () => {
    const i = await t.daemon.admin('/keys/inspect')
    expect(i.status).toBe(400)
    expect(JSON.parse(i.text).error.code).toBe('TAVERN_ERR_BAD_ARGUMENT')
    const pf = await post('/prefetch', {urls: ['nope']})
    expect(pf.status).toBe(400)
    expect(pf.header('content-type')).toMatch(/json/)
    expect(JSON.parse(pf.text).error.code).toBe('TAVERN_ERR_BAD_URL')
    const pfh = await post('/prefetch', {urls: [`${t.daemon.url}/x`], headers: {Host: 'evil'}})
    expect(JSON.parse(pfh.text).error.code).toBe('TAVERN_ERR_BAD_HEADERS')
    const v = await post('/verify', {})
    expect(v.status).toBe(400)
    expect(JSON.parse(v.text).error.code).toBe('TAVERN_ERR_BAD_ARGUMENT')
  })

  it('POST /prefetch and POST /verify stream NDJSON: start, results/progress, summary', async () => {
    const p = uniquePath('api-stream')
    cacheable(p)
    const pf = await post('/prefetch', {urls: [`${t.daemon.url}${p}`]})
    expect(pf.header('content-type')).toMatch(/ndjson/)
    const lines = pf.text.trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.map((l) => l.type)).toEqual(['start', 'result', 'summary'])
    expect(lines[1]).toMatchObject({url: `${t.daemon.url}${p}`, status: 200, outcome: 'stored', bytes: 2})
    const v = await post('/verify', {url: `${t.daemon.url}${p}`})
    const vl = v.text.trim().split('\n').map((l) => JSON.parse(l))
    expect(vl[0].type).toBe('start')
    expect(vl.at(-1)).toMatchObject({type: 'summary', checked: 1, ok: 1, mismatches: 0})
  })
})
