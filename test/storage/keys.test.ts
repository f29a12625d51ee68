// Stored-key encoding on a real LMDB: every (cache key, variant) round-trips, prefix ranges hold exactly the keys
// with the prefix, variants of one URL are one range, and no stored key exceeds LMDB's key limit.
import fs from 'node:fs'

import fc from 'fast-check'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {MAX_STORED_KEY_BYTES, plainPrefix, prefixRange, storedKey, storedUrlKey, variantRange} from '../../src/storage/keys.js'
import {LmdbIndex} from '../../src/storage/lmdb-index.js'
import {scanAll, scanPage} from '../../src/storage/scan.js'
import type {ObjectRecord} from '../../src/storage/types.js'
import {policy, tempDir} from './helpers.js'

let dir: string
let index: LmdbIndex

beforeEach(async () => {
  dir = tempDir()
  index = (await LmdbIndex.open(dir, true)).index
})
afterEach(async () => {
  await index.close()
  fs.rmSync(dir, {recursive: true, force: true})
})

function record(key: string, variant: string, file: string): ObjectRecord {
  const now = Date.now()
  return {key, variant, url: key, status: 200, statusText: 'OK', headers: [], requestTime: now, responseTime: now, policy: policy(), size: 1, crc32c: 0, file, storedAt: now, lastAccess: now, hits: 0}
}

async function putAll(pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
  await index.transaction(() => {
    pairs.forEach(([k, v], i) => index.putRecordInTxn(storedKey(k, v), record(k, v, `f/${i}`), []))
  })
}

async function clear(): Promise<void> {
  await index.objects.clearAsync()
  await index.lru.clearAsync()
  await index.files.clearAsync()
}

// Any UTF-16 string (NUL, U+FFFF, lone surrogates included), short or far past LMDB's key limit.
const anyString = fc.oneof(fc.string({unit: 'binary', maxLength: 80}), fc.string({unit: 'binary', minLength: 300, maxLength: 3000}), fc.string({unit: 'grapheme-ascii', maxLength: 9000}))
const url = fc.oneof(
  anyString.map((s) => `http://h/${s}`),
  fc.integer({min: 0, max: 9000}).map((n) => `http://h/${'a'.repeat(n)}`),
)

describe('stored keys', () => {
  it('keep every stored key within the LMDB key limit (also the lru key, 6 bytes longer)', () => {
    fc.assert(
      fc.property(anyString, anyString, (k, v) => {
        expect(Buffer.byteLength(storedKey(k, v))).toBeLessThanOrEqual(MAX_STORED_KEY_BYTES)
      }),
    )
    expect(MAX_STORED_KEY_BYTES + 6).toBeLessThanOrEqual(1978)
  })

  it('round-trip any cache key and variant through LMDB (get, scans return the stored key itself)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(url, anyString), {minLength: 1, maxLength: 12, selector: ([k, v]) => `${k.length}:${k}\u0000${v}`}), async (pairs) => {
        await clear()
        await putAll(pairs)
        for (const [k, v] of pairs) {
          const rec = index.getObject(k, v)
          expect(rec?.key).toBe(k)
          expect(rec?.variant).toBe(v)
        }
        const all = scanAll(index.objects, {prefix: '', limit: 5})
        expect(all.length).toBe(pairs.length)
        for (const {key, value} of all) {
          expect(typeof key).toBe('string')
          expect(key).toBe(storedKey(value.key, value.variant))
        }
      }),
      {numRuns: 60},
    )
  })

  it('variantRange holds exactly the variants of one URL, also when another URL extends it', async () => {
    await fc.assert(
      fc.asyncProperty(url, fc.uniqueArray(anyString, {minLength: 1, maxLength: 5}), anyString, async (k, variants, tail) => {
        await clear()
        const other = k + (tail === '' ? 'x' : tail)
        await putAll([...variants.map((v) => [k, v] as const), [other, ''], [other, variants[0]!]])
        const got = scanAll(index.objects, {prefix: variantRange(k), limit: 2, match: (r) => r.key === k})
        expect(got.map((e) => e.value.variant).sort()).toEqual([...variants].sort())
        expect(index.variantEntries(k).length).toBe(variants.length)
      }),
      {numRuns: 60},
    )
  })

  it('prefixRange finds exactly the cache keys with the prefix (short, long and unusual prefixes)', async () => {
    const base = 'http://h/' + 'd'.repeat(1500)
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.oneof(url, anyString.map((s) => base + s)), {minLength: 1, maxLength: 15}), fc.nat(), fc.nat(), async (keys, pick, cut) => {
        await clear()
        await putAll(keys.map((k) => [k, ''] as const))
        const source = keys[pick % keys.length]!
        const prefix = source.slice(0, cut % (source.length + 1))
        const {start, exact} = prefixRange(prefix)
        const got = scanAll(index.objects, {prefix: start, limit: 3, match: exact ? undefined : (r) => r.key.startsWith(prefix)})
        expect(got.map((e) => e.value.key).sort()).toEqual(keys.filter((k) => k.startsWith(prefix)).sort())
      }),
      {numRuns: 80},
    )
  })

  it('plain keys are stored as they are; long or unusual ones keep a plain prefix and a hash', () => {
    const short = 'http://h/' + 'a'.repeat(200)
    expect(storedKey(short, 'accept-encoding=gzip')).toBe(`${short}\u0000accept-encoding=gzip`)
    const long = 'http://h/' + 'a'.repeat(8000)
    const sk = storedUrlKey(long)
    expect(sk.startsWith(long.slice(0, 1024))).toBe(true)
    expect(sk.length).toBe(1024 + 1 + 32)
    expect(storedUrlKey(long + 'b')).not.toBe(sk)
    expect(storedUrlKey('http://h/\uD800x')).not.toContain('\uD800')
    expect(plainPrefix('http://h/é\u0000z')).toBe('http://h/é')
  })

  it('scanPage bounds the work per page and resumes after the last key looked at', async () => {
    await putAll(Array.from({length: 7}, (_, i) => [`http://h/p/${i}`, ''] as const))
    const first = scanPage(index.objects, {prefix: 'http://h/p/', limit: 3, match: (r) => r.key.endsWith('1')})
    expect(first.entries.map((e) => e.value.key)).toEqual(['http://h/p/1'])
    expect(first.next).toBe(storedKey('http://h/p/2', ''))
    const rest = scanPage(index.objects, {prefix: 'http://h/p/', after: first.next, limit: 10})
    expect(rest.entries.map((e) => e.value.key)).toEqual(['http://h/p/3', 'http://h/p/4', 'http://h/p/5', 'http://h/p/6'])
    expect(rest.next).toBeUndefined()
  })
})
