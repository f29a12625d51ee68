import fs from 'node:fs'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {PURGE_BATCH, Storage} from '../../src/storage/store.js'
import type {PurgeResult} from '../../src/storage/types.js'
import {waitFor} from '../helpers/wait.js'
import {forRange, meta, options, put, readAll, tempDir} from './helpers.js'

let dir: string
let s: Storage

beforeEach(async () => {
  dir = tempDir()
  s = await Storage.open(options(dir))
})
afterEach(async () => {
  await s.close()
  fs.rmSync(dir, {recursive: true, force: true})
})

describe('purge racing a fill', () => {
  it('a delete purge of the key during the fill: commit returns null, nothing stored', async () => {
    await put(s, 'http://h/x', 'old')
    const w = s.beginFill('http://h/x', '')
    w.write(Buffer.from('new body'))
    const r = await s.purgeKey('http://h/x', 'delete')
    expect(r).toEqual({matched: 1, purged: 1, bytesFreed: 3})
    expect(await w.commit(meta('http://h/x'))).toBeNull()
    expect(s.get('http://h/x', '')).toBeUndefined()
    expect(s.getVary('http://h/x')).toBeUndefined()
    expect(s.usage()).toMatchObject({objects: 0, diskBytes: 0})
    await waitFor(() => fs.readdirSync(`${dir}/tmp`).length === 0, {message: 'the refused fill\'s temp file deleted'})
  })

  it('a delete purge of a covering prefix during the fill also refuses the commit', async () => {
    const w = s.beginFill('http://h/dir/x', '')
    w.write(Buffer.from('body'))
    await s.purgePrefix('http://h/dir/', 'delete')
    expect(await w.commit(meta('http://h/dir/x'))).toBeNull()
    expect(s.get('http://h/dir/x', '')).toBeUndefined()
  })

  it('a purge of another key or a purge before the fill began does not interfere', async () => {
    await s.purgeKey('http://h/y', 'delete')
    const w = s.beginFill('http://h/y', '')
    w.write(Buffer.from('body'))
    await s.purgeKey('http://h/other', 'delete')
    await s.purgePrefix('http://h/y/', 'delete')
    expect(await w.commit(meta('http://h/y'))).not.toBeNull()
  })

  it('an expire purge during the fill stores the object marked invalidated', async () => {
    const w = s.beginFill('http://h/e', '')
    w.write(Buffer.from('body'))
    const before = Date.now()
    await s.purgePrefix('http://h/', 'expire')
    const rec = await w.commit(meta('http://h/e'))
    expect(rec!.invalidatedAt).toBeGreaterThanOrEqual(before)
    expect(s.get('http://h/e', '')!.invalidatedAt).toBe(rec!.invalidatedAt)
    expect((await readAll(s.readBody(rec!))).toString()).toBe('body')
  })

  it('a delete purge wins over an expire purge for the same fill', async () => {
    const w = s.beginFill('http://h/both', '')
    w.write(Buffer.from('b'))
    await s.purgeKey('http://h/both', 'delete')
    await s.purgeKey('http://h/both', 'expire')
    expect(await w.commit(meta('http://h/both'))).toBeNull()
  })
})

describe('purgeKey / purgePrefix', () => {
  it('purgeKey removes every variant and the vary record; expire keeps bodies and refresh clears the mark', async () => {
    await put(s, 'http://h/v', 'gz', {variant: 'ae=gzip', vary: ['accept-encoding']})
    await put(s, 'http://h/v', 'br!', {variant: 'ae=br', vary: ['accept-encoding']})
    const exp = await s.purgeKey('http://h/v', 'expire')
    expect(exp).toEqual({matched: 2, purged: 2, bytesFreed: 0})
    const stale = s.get('http://h/v', 'ae=gzip')!
    expect(stale.invalidatedAt).toBeDefined()
    expect((await readAll(s.readBody(stale))).toString()).toBe('gz')
    const refreshed = await s.refresh('http://h/v', 'ae=gzip', {
      headers: ['ETag', '"2"'],
      requestTime: 1,
      responseTime: 2,
      policy: meta('x').policy,
      status: 200,
    })
    expect(refreshed!.invalidatedAt).toBeUndefined()
    expect(s.get('http://h/v', 'ae=gzip')).toMatchObject({headers: ['ETag', '"2"'], requestTime: 1, responseTime: 2})
    expect(s.get('http://h/v', 'ae=gzip')!.invalidatedAt).toBeUndefined()
    expect(await s.refresh('http://h/none', '', {headers: [], requestTime: 1, responseTime: 1, policy: meta('x').policy})).toBeUndefined()

    const del = await s.purgeKey('http://h/v', 'delete')
    expect(del).toEqual({matched: 2, purged: 2, bytesFreed: 5})
    expect(s.variants('http://h/v')).toEqual([])
    expect(s.getVary('http://h/v')).toBeUndefined()
    expect(s.usage().objects).toBe(0)
  })

  it('purgeKey does not touch longer keys sharing the prefix', async () => {
    await put(s, 'http://h/a', '1')
    await put(s, 'http://h/a?x=1', '2')
    await put(s, 'http://h/ab', '3')
    expect((await s.purgeKey('http://h/a', 'delete')).purged).toBe(1)
    expect(s.get('http://h/a?x=1', '')).toBeDefined()
    expect(s.get('http://h/ab', '')).toBeDefined()
  })

  it('purgePrefix respects the boundary: http://h/static/ does not touch http://h/static-old/x', async () => {
    await put(s, 'http://h/static/a.css', 'a')
    await put(s, 'http://h/static/sub/b.js', 'bb')
    await put(s, 'http://h/static-old/x', 'ccc')
    await put(s, 'http://h/static', 'dddd')
    await put(s, 'http://h/stat', 'e')
    await put(s, 'http://other/static/a.css', 'f')
    const r = await s.purgePrefix('http://h/static/', 'delete')
    expect(r).toEqual({matched: 2, purged: 2, bytesFreed: 3})
    expect(s.get('http://h/static/a.css', '')).toBeUndefined()
    expect(s.get('http://h/static/sub/b.js', '')).toBeUndefined()
    expect(s.getVary('http://h/static/a.css')).toBeUndefined()
    for (const k of ['http://h/static-old/x', 'http://h/static', 'http://h/stat', 'http://other/static/a.css']) {
      expect(s.get(k, ''), k).toBeDefined()
      expect(s.getVary(k), k).toBeDefined()
    }
    expect(s.usage()).toMatchObject({objects: 4, diskBytes: 3 + 4 + 1 + 1})
  })

  it('purgePrefix over 5,000 keys works in batches and reports progress', async () => {
    const N = 5000
    await forRange(N, 100, (i) => put(s, `http://h/big/${String(i).padStart(5, '0')}`, 'x'))
    await put(s, 'http://h/big-other', 'y')
    await put(s, 'http://h/bif', 'z')
    expect(s.usage().objects).toBe(N + 2)

    // Expire first: keys stay, so the batch cursor must skip past each batch's last key.
    const expProgress: PurgeResult[] = []
    const exp = await s.purgePrefix('http://h/big/', 'expire', (r) => expProgress.push(r))
    expect(exp).toEqual({matched: N, purged: N, bytesFreed: 0})
    const batches = Math.ceil(N / PURGE_BATCH)
    expect(batches).toBeGreaterThan(1)
    expect(expProgress.length).toBe(batches)
    expect(s.get('http://h/big/04999', '')!.invalidatedAt).toBeDefined()
    expect(s.get('http://h/big-other', '')!.invalidatedAt).toBeUndefined()

    const progress: PurgeResult[] = []
    let ticks = 0
    const timer = setInterval(() => ticks++, 0)
    const r = await s.purgePrefix('http://h/big/', 'delete', (p) => progress.push(p))
    clearInterval(timer)
    expect(r).toEqual({matched: N, purged: N, bytesFreed: N})
    expect(progress.map((p) => p.purged)).toEqual(Array.from({length: batches}, (_, i) => Math.min(N, (i + 1) * PURGE_BATCH)))
    expect(ticks).toBeGreaterThan(0) // the event loop ran between batches
    expect(s.usage().objects).toBe(2)
    expect(s.get('http://h/big-other', '')).toBeDefined()
    expect(s.get('http://h/bif', '')).toBeDefined()
    let n = 0
    expect(await s.forEach('http://h/big/', () => void n++)).toBe(0)
    expect(await s.forEach('', () => void n++)).toBe(2)
  }, 60_000)

  it('forEach visits every record under a prefix, across batches', async () => {
    await forRange(1200, 100, (i) => put(s, `http://h/f/${String(i).padStart(4, '0')}`, 'x'))
    await put(s, 'http://h/g', 'x')
    const seen: string[] = []
    const n = await s.forEach('http://h/f/', async (rec) => {
      seen.push(rec.key)
    })
    expect(n).toBe(1200)
    expect(new Set(seen).size).toBe(1200)
    expect([...seen].sort()).toEqual(seen)
  })
})
