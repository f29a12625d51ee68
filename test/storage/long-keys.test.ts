// Cache keys of every length through the whole store: fill, get, variants, purge (key and directory), forEach,
// touches, eviction, GC, partial objects and a restart. Lengths around lmdb-js's old breaking points (63/64
// characters) and past LMDB's 1978-byte key limit (2,000 and 8,000 characters).
import fs from 'node:fs'

import {afterEach, describe, expect, it} from 'vitest'

import {Storage} from '../../src/storage/store.js'
import type {StorageOptions} from '../../src/storage/store.js'
import {options, policy, put, readAll, sleep, tempDir} from './helpers.js'

const LENGTHS = [63, 64, 200, 2000, 8000]
/** A normalized URL of exactly `n` characters under `http://h/dir/`. */
function urlOf(n: number, tag = ''): string {
  const base = `http://h/dir/${tag}`
  return base + 'x'.repeat(n - base.length)
}
/** A variant selector with many Vary fields (long enough to be hashed at 2,000+). */
function variantOf(n: number, i: number): string {
  return `accept-language=${'l'.repeat(Math.min(n, 3000))}${i}&user-agent=ua${i}`
}

const dirs: string[] = []
const stores: Storage[] = []

async function openStore(over: Partial<StorageOptions> = {}, dir = tempDir()): Promise<{s: Storage; dir: string}> {
  if (!dirs.includes(dir)) dirs.push(dir)
  const s = await Storage.open(options(dir, over))
  stores.push(s)
  return {s, dir}
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  for (const d of dirs.splice(0)) fs.rmSync(d, {recursive: true, force: true})
})

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await sleep(10)
  }
}

describe.each(LENGTHS)('a %i-character URL', (n) => {
  it('without Vary: stored, found, listed, purged by key (then gone), and again by directory', async () => {
    const {s} = await openStore()
    const u = urlOf(n)
    expect(u.length).toBe(n)
    const rec = await put(s, u, 'body')
    expect(rec).not.toBeNull()
    expect(s.get(u, '')?.key).toBe(u)
    expect(s.variants(u).map((r) => r.key)).toEqual([u])
    expect((await readAll(s.readBody(s.get(u, '')!))).toString()).toBe('body')
    // A neighbour one character longer is a different object.
    await put(s, u + 'y', 'other')
    expect(s.variants(u).length).toBe(1)
    expect(await s.purgeKey(u, 'delete')).toEqual({matched: 1, purged: 1, bytesFreed: 4})
    expect(s.get(u, '')).toBeUndefined()
    expect(s.get(u + 'y', '')?.key).toBe(u + 'y')
    await put(s, u, 'again')
    expect(await s.purgePrefix('http://h/dir/', 'delete')).toMatchObject({matched: 2, purged: 2})
    expect(s.get(u, '')).toBeUndefined()
    expect(s.get(u + 'y', '')).toBeUndefined()
    expect(s.usage()).toMatchObject({objects: 0, diskBytes: 0})
  })

  it('with many-field Vary: each variant is its own object; purge (delete) removes all of them and the Vary record', async () => {
    const {s} = await openStore({maxVariants: 8})
    const u = urlOf(n)
    const vary = ['accept-language', 'user-agent']
    for (let i = 0; i < 3; i++) expect(await put(s, u, `v${i}`, {variant: variantOf(n, i), vary})).not.toBeNull()
    expect(s.getVary(u)?.variants.length).toBe(3)
    for (let i = 0; i < 3; i++) expect(s.get(u, variantOf(n, i))?.variant).toBe(variantOf(n, i))
    expect(s.get(u, variantOf(n, 9))).toBeUndefined()
    expect(s.variants(u).length).toBe(3)
    expect((await s.purgeKey(u, 'delete')).matched).toBe(3)
    expect(s.variants(u)).toEqual([])
    expect(s.getVary(u)).toBeUndefined()
    for (let i = 0; i < 3; i++) expect(s.get(u, variantOf(n, i))).toBeUndefined()
  })

  it('expire mode marks every variant; forEach and a restart see them all', async () => {
    const {s, dir} = await openStore({maxVariants: 8})
    const u = urlOf(n)
    for (let i = 0; i < 2; i++) await put(s, u, `v${i}`, {variant: variantOf(n, i), vary: ['accept-language', 'user-agent']})
    await put(s, urlOf(n, 'z'), 'plain')
    expect((await s.purgePrefix('http://h/dir/', 'expire')).matched).toBe(3)
    for (let i = 0; i < 2; i++) expect(s.get(u, variantOf(n, i))?.invalidatedAt).toBeTypeOf('number')
    const seen: string[] = []
    expect(await s.forEach('http://h/dir/', (r) => void seen.push(r.key))).toBe(3)
    expect(new Set(seen)).toEqual(new Set([u, urlOf(n, 'z')]))
    s.touch(s.get(u, variantOf(n, 0))!)
    await s.close()
    const again = (await openStore({}, dir)).s
    expect(again.get(u, variantOf(n, 0))?.hits).toBe(1)
    expect(again.variants(u).length).toBe(2)
    expect(again.usage().objects).toBe(3)
  })

  it('a directory prefix longer than what stored keys keep matches exactly the right records', async () => {
    const {s} = await openStore()
    const u = urlOf(n)
    const sibling = u.slice(0, -1) + 'Q'
    await put(s, u, 'a')
    await put(s, sibling, 'b')
    await put(s, u + '/child', 'c')
    const r = await s.purgePrefix(u, 'delete')
    expect(r.matched).toBe(2)
    expect(s.get(u, '')).toBeUndefined()
    expect(s.get(u + '/child', '')).toBeUndefined()
    expect(s.get(sibling, '')?.key).toBe(sibling)
    const listed: string[] = []
    await s.forEach(sibling.slice(0, -1), (rec) => void listed.push(rec.key))
    expect(listed).toEqual([sibling])
  })

  it('partial objects: created, marked, promoted to a complete object, purged by directory', async () => {
    const {s} = await openStore()
    const u = urlOf(n)
    const seq = s.beginPartialFill()
    const {file, path} = await s.newPartialFile(u, '')
    fs.writeFileSync(path, 'abcd')
    const p = await s.createPartial({key: u, variant: '', url: u, statusText: 'OK', headers: [], requestTime: Date.now(), responseTime: Date.now(), policy: policy(), vary: [], size: 4, sliceSize: 2, file}, seq)
    s.endPartialFill(seq)
    expect(p).not.toBeNull()
    expect(s.getPartial(u, '')?.key).toBe(u)
    expect(await s.markPartial(u, '', file, [0, 1])).toBe(true)
    const rec = await s.promotePartial(u, '', file, 0)
    expect(rec?.key).toBe(u)
    expect(s.get(u, '')?.file).toBe(file)
    expect(s.getPartial(u, '')).toBeUndefined()
    const seq2 = s.beginPartialFill()
    const other = await s.newPartialFile(u + 'p', '')
    await s.createPartial({key: u + 'p', variant: '', url: u, statusText: 'OK', headers: [], requestTime: Date.now(), responseTime: Date.now(), policy: policy(), vary: [], size: 4, sliceSize: 2, file: other.file}, seq2)
    s.endPartialFill(seq2)
    expect((await s.purgePrefix('http://h/dir/', 'delete')).matched).toBe(2)
    expect(s.get(u, '')).toBeUndefined()
    expect(s.getPartial(u + 'p', '')).toBeUndefined()
    await waitFor(() => !fs.existsSync(path) && !fs.existsSync(other.path))
  })

  it('eviction and GC walk long keys too', async () => {
    const {s} = await openStore({maxDiskBytes: 10_000, diskHighWatermark: 0.9, diskLowWatermark: 0.5, gcGraceSeconds: 1, evictionIntervalMs: 20})
    const old = Date.now() - 3600_000
    await put(s, urlOf(n, 'gc'), 'x', {variant: variantOf(n, 1), vary: ['accept-language', 'user-agent'], responseTime: old, requestTime: old, policy: policy({lifetime: 1})})
    await waitFor(() => s.usage().expiredRemoved === 1)
    // The counter moves when the removal is decided; the record's deletion commits right after.
    await waitFor(() => s.get(urlOf(n, 'gc'), variantOf(n, 1)) === undefined)
    for (let i = 0; i < 6; i++) await put(s, urlOf(n, `e${i}`), Buffer.alloc(2000, i))
    // Over the high watermark (9,000) after the fifth: evicted down to the low one (5,000), oldest first.
    await waitFor(() => s.usage().evictions >= 3)
    expect(s.usage().diskBytes).toBeLessThanOrEqual(9000)
    // LRU order is by minute bucket, then by stored key: long keys are hashed, so within one minute which objects go
    // is not the put order. At least three went, and what is left is whole.
    const left = [0, 1, 2, 3, 4, 5].map((i) => s.get(urlOf(n, `e${i}`), '')).filter((r) => r !== undefined)
    expect(left.length).toBeLessThanOrEqual(3)
    for (const r of left) expect(r!.size).toBe(2000)
  })
})
