import {describe, expect, it} from 'vitest'

import {startDaemon} from '../helpers/daemon.js'
import {describe_, tavernStatus, useProxy} from '../helpers/fixture.js'
import {sleep, startOrigin, uniquePath} from '../helpers/origin.js'
import {show, tavern} from './helpers.js'

const t = useProxy()

function cacheable(path: string): void {
  t.origin.route(path, (req, n) =>
    n > 1 && req.header('if-none-match') === '"m1"'
      ? {status: 304, headers: {ETag: '"m1"', 'Cache-Control': 'max-age=3600'}}
      : {headers: {ETag: '"m1"', 'Cache-Control': 'max-age=3600', 'Content-Type': 'text/plain'}, body: `body-${n}`},
  )
}

async function warm(get: typeof t.get, path: string): Promise<void> {
  await get(path)
  for (let i = 0; ; i++) {
    const r = await get(path)
    if (tavernStatus(r)?.params.hit === true) return
    if (i > 50) expect.fail(`never became a hit: ${describe_(r)}`)
    await sleep(20)
  }
}

const purge = (path: string, type?: string) => t.daemon.request(path, {method: 'PURGE', headers: type ? {'Purge-Type': type} : {}})

describe('HTTP PURGE on the data plane (allowed from 127.0.0.1 by default)', () => {
  it('PURGE (default file) marks the object expired: 200 JSON, then the next GET revalidates with If-None-Match', async () => {
    const p = uniquePath('pm-file')
    cacheable(p)
    await warm(t.get, p)
    const r = await purge(p)
    expect(r.status).toBe(200)
    expect(r.header('content-type')).toMatch(/application\/json/)
    expect(JSON.parse(r.text)).toEqual({message: 'success', mode: 'expire', matched: 1, expired: 1})
    const inspect = await tavern(t.daemon, ['inspect-key', '--json', `${t.daemon.url}${p}`])
    expect(inspect.json().variants[0]).toMatchObject({state: 'stale', staleReason: 'invalidated by purge'})
    const g = await t.get(p)
    expect(g.text).toBe('body-1')
    expect(t.origin.requestsFor(p)[1]?.header('if-none-match')).toBe('"m1"')
  })

  it('Purge-Type: file,hard deletes it; a second PURGE finds nothing → 404 with the same JSON shape', async () => {
    const p = uniquePath('pm-hard')
    cacheable(p)
    await warm(t.get, p)
    const r = await purge(p, 'file,hard')
    expect(r.status).toBe(200)
    expect(JSON.parse(r.text)).toEqual({message: 'success', mode: 'delete', matched: 1, purged: 1, bytesFreed: 6})
    const again = await purge(p, 'file,hard')
    expect(again.status).toBe(404)
    expect(JSON.parse(again.text)).toMatchObject({matched: 0, purged: 0, bytesFreed: 0})
    const g = await t.get(p)
    expect(g.text).toBe('body-2')
    expect(t.origin.requestsFor(p)[1]?.header('if-none-match')).toBeUndefined()
  })

  it('Purge-Type: dir / dir,hard purge the request path as a directory, path-boundary correct', async () => {
    const base = uniquePath('pm-dir')
    const inside = [`${base}/img/a.png`, `${base}/img/b/c.png`]
    const outside = [`${base}/img-old/a.png`, `${base}/imgx`]
    for (const p of [...inside, ...outside]) {
      cacheable(p)
      await warm(t.get, p)
    }
    const soft = await purge(`${base}/img`, 'dir')
    expect(soft.status).toBe(200)
    expect(JSON.parse(soft.text)).toEqual({message: 'success', mode: 'expire', matched: 2, expired: 2})
    const hard = await purge(`${base}/img/`, 'dir, hard')
    expect(JSON.parse(hard.text)).toMatchObject({matched: 2, purged: 2, bytesFreed: 12})
    for (const p of inside) expect(tavernStatus(await t.get(p))?.params.hit, p).toBeUndefined()
    for (const p of outside) expect(tavernStatus(await t.get(p))?.params.hit, p).toBe(true)
  })

  it('an unknown Purge-Type is a 400 and changes nothing', async () => {
    const p = uniquePath('pm-bad')
    cacheable(p)
    await warm(t.get, p)
    const r = await purge(p, 'everything')
    expect(r.status).toBe(400)
    expect(tavernStatus(await t.get(p))?.params.hit).toBe(true)
  })
})

describe('HTTP PURGE from an address outside purge.allow', () => {
  it('is refused with 403 and the object stays cached', async () => {
    const origin = await startOrigin()
    const d = await startDaemon({upstream: origin.url, config: {purge: {allow: ['10.0.0.0/8']}}})
    try {
      const p = uniquePath('pm-denied')
      origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'keep-me'})
      await warm((path, o) => d.request(path, o), p)
      for (const type of [undefined, 'file,hard', 'dir,hard']) {
        const r = await d.request(p, {method: 'PURGE', headers: type ? {'Purge-Type': type} : {}})
        expect(r.status, type).toBe(403)
        expect(JSON.parse(r.text)).toMatchObject({message: 'forbidden'})
      }
      const g = await d.request(p)
      expect(tavernStatus(g)?.params.hit).toBe(true)
      expect(g.text).toBe('keep-me')
      expect(origin.countFor(p)).toBe(1)
      // The admin API is not subject to purge.allow (it is protected by the socket's permissions).
      const cli = await tavern(d, ['purge', `${d.url}${p}`])
      expect(cli.code, show(cli)).toBe(0)
      expect(cli.stdout).toMatch(/1 deleted/)
    } finally {
      await d.stop()
      await origin.close()
    }
  })
})
