import fs from 'node:fs'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {Storage} from '../../src/storage/store.js'
import type {StorageOptions} from '../../src/storage/store.js'
import {waitFor as waitForValue} from '../helpers/wait.js'
import {options, policy, put, randomBody, readAll, sleep, tempDir} from './helpers.js'

const dirs: string[] = []
const open: Storage[] = []

async function openStorage(over: Partial<StorageOptions> = {}, dir = tempDir()): Promise<{s: Storage; dir: string}> {
  dirs.push(dir)
  const s = await Storage.open(options(dir, over))
  open.push(s)
  return {s, dir}
}

afterEach(async () => {
  for (const s of open.splice(0)) await s.close()
  for (const d of dirs.splice(0)) fs.rmSync(d, {recursive: true, force: true})
})

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  await waitForValue(cond, {timeoutMs: ms})
}

describe('vary', () => {
  it('caps variants per URL, replacing the least recently used one', async () => {
    const {s} = await openStorage({maxVariants: 3})
    const key = 'http://h/v'
    const vary = ['accept-language']
    // A stepped clock orders the access times (no sleeps): each action happens one second after the previous one.
    const realNow = Date.now
    let now = realNow()
    const step = () => (now += 1000)
    Date.now = () => now
    try {
      const a = (await put(s, key, 'a', {variant: 'al=a', vary}))!
      step()
      await put(s, key, 'b', {variant: 'al=b', vary})
      step()
      await put(s, key, 'c', {variant: 'al=c', vary})
      expect(s.getVary(key)!.variants).toEqual(['al=c', 'al=b', 'al=a'])
      step()
      s.touch(a) // 'a' is now the most recently used: 'b' is the LRU one
      step()
      await put(s, key, 'd', {variant: 'al=d', vary})
    } finally {
      Date.now = realNow
    }
    expect(s.getVary(key)!.variants).toEqual(['al=d', 'al=a', 'al=c'])
    expect(s.get(key, 'al=b')).toBeUndefined()
    expect(s.variants(key).map((r) => r.variant).sort()).toEqual(['al=a', 'al=c', 'al=d'])
    expect(s.usage()).toMatchObject({objects: 3, diskBytes: 3})
  })

  it('drops the other variants when the Vary names change', async () => {
    const {s} = await openStorage()
    await put(s, 'http://h/n', 'g', {variant: 'ae=gzip', vary: ['accept-encoding']})
    await put(s, 'http://h/n', 'b', {variant: 'ae=br', vary: ['accept-encoding']})
    await put(s, 'http://h/n', 'x', {variant: 'ae=br;al=en', vary: ['accept-encoding', 'accept-language']})
    expect(s.getVary('http://h/n')).toEqual({key: 'http://h/n', names: ['accept-encoding', 'accept-language'], variants: ['ae=br;al=en']})
    expect(s.variants('http://h/n').length).toBe(1)
    expect(s.usage().objects).toBe(1)
  })
})

describe('eviction', () => {
  it('evicts down to the low watermark in the background and deletes the files', async () => {
    const {s, dir} = await openStorage({maxDiskBytes: 10_000, diskHighWatermark: 0.9, diskLowWatermark: 0.5})
    const body = randomBody(1000)
    const recs = []
    for (let i = 0; i < 9; i++) recs.push((await put(s, `http://h/e/${i}`, body))!)
    await s.maintain() // 9000 is at the high watermark, not above: nothing to do
    expect(s.usage()).toMatchObject({objects: 9, evictions: 0})
    recs.push((await put(s, 'http://h/e/9', body))!) // 10000 > 9000: evict down to 5000
    await waitFor(() => s.usage().diskBytes <= 5000)
    await s.maintain() // joins the running round: its last transaction has committed when this resolves
    expect(s.usage()).toMatchObject({objects: 5, diskBytes: 5000, evictions: 5})
    const left = recs.filter((r) => s.get(r.key, '') !== undefined).map((r) => r.key)
    expect(left).toEqual(['http://h/e/5', 'http://h/e/6', 'http://h/e/7', 'http://h/e/8', 'http://h/e/9'])
    expect(s.getVary('http://h/e/0')).toBeUndefined()
    const bodyFiles = () => fs.readdirSync(path.join(dir, 'objects'), {recursive: true, withFileTypes: true}).filter((d) => d.isFile()).length
    await waitFor(() => bodyFiles() === 5)
    expect(bodyFiles()).toBe(5)
  })

  it('least recently used is evicted first across LRU buckets', async () => {
    const {s} = await openStorage({maxDiskBytes: 3500, diskHighWatermark: 0.95, diskLowWatermark: 0.6, touchFlushIntervalMs: 60_000})
    const body = randomBody(1000)
    const realNow = Date.now
    try {
      // Stored "3 minutes ago", "2 minutes ago", "1 minute ago".
      const recs = []
      for (let i = 0; i < 3; i++) {
        const t = realNow() - (3 - i) * 60_000
        Date.now = () => t
        recs.push((await put(s, `http://h/l/${i}`, body))!)
      }
      Date.now = realNow
      s.touch(recs[0]!) // now the most recently used
      await s.flushTouches()
      await put(s, 'http://h/l/3', body) // 4000 > 3325: evict down to 2100
      await waitFor(() => s.usage().diskBytes <= 2100)
      await s.maintain()
      expect(s.get('http://h/l/0', '')).toBeDefined()
      expect(s.get('http://h/l/1', '')).toBeUndefined()
      expect(s.get('http://h/l/2', '')).toBeUndefined()
      expect(s.get('http://h/l/3', '')).toBeDefined()
      expect(s.usage().evictions).toBe(2)
    } finally {
      Date.now = realNow
    }
  })

  it('removes long-expired objects without validators in the background', async () => {
    const {s} = await openStorage({gcGraceSeconds: 10, evictionIntervalMs: 20})
    const old = Date.now() - 3600_000
    await put(s, 'http://h/gc/expired', 'x', {responseTime: old, requestTime: old, policy: policy({lifetime: 60})})
    await put(s, 'http://h/gc/validator', 'x', {responseTime: old, requestTime: old, policy: policy({lifetime: 60, etag: '"1"'})})
    await put(s, 'http://h/gc/fresh', 'x', {policy: policy({lifetime: 60})})
    await waitFor(() => s.usage().expiredRemoved === 1)
    expect(s.get('http://h/gc/expired', '')).toBeUndefined()
    expect(s.getVary('http://h/gc/expired')).toBeUndefined()
    expect(s.get('http://h/gc/validator', '')).toBeDefined()
    expect(s.get('http://h/gc/fresh', '')).toBeDefined()
    expect(s.usage().objects).toBe(2)
  })
})

describe('memory tier', () => {
  it('keeps small bodies within the byte budget and serves them without the file', async () => {
    const {s} = await openStorage({maxMemoryBytes: 10_000, memoryMaxObjectBytes: 3000})
    const recs = []
    for (let i = 0; i < 10; i++) recs.push((await put(s, `http://h/m/${i}`, randomBody(2000, i)))!)
    const big = (await put(s, 'http://h/m/big', randomBody(5000)))!
    const u = s.usage()
    expect(u.memoryBytes).toBeLessThanOrEqual(10_000)
    expect(u.memoryObjects).toBe(5)
    expect(s.memoryBody(big)).toBeUndefined()
    expect(s.memoryBody(recs[0]!)).toBeUndefined() // oldest went first
    const hot = s.memoryBody(recs[9]!)!
    expect(hot.equals(randomBody(2000, 9))).toBe(true)
    // Served from memory even when the file is gone.
    fs.unlinkSync(s.bodyPath(recs[9]!))
    expect((await readAll(s.readBody(recs[9]!, 10, 19))).equals(randomBody(2000, 9).subarray(10, 20))).toBe(true)
    // Reading a small body from disk promotes it.
    expect((await readAll(s.readBody(recs[0]!))).equals(randomBody(2000, 0))).toBe(true)
    expect(s.memoryBody(recs[0]!)).toBeDefined()
    expect(s.usage().memoryBytes).toBeLessThanOrEqual(10_000)
    // Removing the object drops its memory entry.
    await s.purgeKey('http://h/m/0', 'delete')
    expect(s.memoryBody(recs[0]!)).toBeUndefined()
  })

  it('maxMemoryBytes 0 disables the tier', async () => {
    const {s} = await openStorage({maxMemoryBytes: 0})
    const r = (await put(s, 'http://h/nomem', 'abc'))!
    expect(s.memoryBody(r)).toBeUndefined()
    expect((await readAll(s.readBody(r))).toString()).toBe('abc')
    expect(s.usage()).toMatchObject({memoryBytes: 0, memoryObjects: 0})
  })
})

describe('restart and crash safety', () => {
  it('keeps objects and counters across close + open, and sweeps tmp', async () => {
    const dir = tempDir()
    let {s} = await openStorage({}, dir)
    const r = (await put(s, 'http://h/keep', 'persist me', {vary: ['accept'], variant: 'a=1'}))!
    await put(s, 'http://h/keep2', 'x')
    s.touch(r)
    s.touch(r)
    const inflight = s.beginFill('http://h/inflight', '')
    inflight.write(Buffer.from('never committed'))
    await waitFor(() => fs.readdirSync(path.join(dir, 'tmp')).length > 0) // the temp file of the open fill exists
    await s.close()
    fs.writeFileSync(path.join(dir, 'tmp', 'orphan-from-crash'), 'junk')
    ;({s} = await openStorage({}, dir))
    expect(fs.readdirSync(path.join(dir, 'tmp'))).toEqual([])
    expect(s.usage()).toMatchObject({objects: 2, diskBytes: 11, memoryBytes: 0})
    const got = s.get('http://h/keep', 'a=1')!
    expect(got.hits).toBe(2)
    expect(s.getVary('http://h/keep')).toEqual({key: 'http://h/keep', names: ['accept'], variants: ['a=1']})
    expect((await readAll(s.readBody(got))).toString()).toBe('persist me')
    expect(s.get('http://h/inflight', '')).toBeUndefined()
  })

  it('removes orphan temp files on open', async () => {
    const dir = tempDir()
    fs.mkdirSync(path.join(dir, 'tmp'), {recursive: true})
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(dir, 'tmp', `orphan${i}`), 'x')
    const {s} = await openStorage({}, dir)
    expect(fs.readdirSync(path.join(dir, 'tmp'))).toEqual([])
    expect(s.usage().objects).toBe(0)
  })

  it('a record whose body file is missing is dropped when read', async () => {
    const logs: unknown[] = []
    const log = {info: () => {}, warn: (o: object, m?: string) => void logs.push([o, m]), error: (o: object, m?: string) => void logs.push([o, m])}
    const {s} = await openStorage({maxMemoryBytes: 0, log})
    const r = (await put(s, 'http://h/gone', randomBody(5000)))!
    fs.unlinkSync(s.bodyPath(r))
    const err = await readAll(s.readBody(r)).then(() => undefined, (e: unknown) => e)
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT')
    await waitFor(() => s.get('http://h/gone', '') === undefined)
    expect(s.usage()).toMatchObject({objects: 0, diskBytes: 0})
    expect(logs.length).toBe(0)
  })
})

describe('verifyBody', () => {
  it('detects a byte flipped on disk', async () => {
    const {s} = await openStorage({maxMemoryBytes: 0})
    const body = randomBody(100_000, 5)
    const r = (await put(s, 'http://h/verify', body))!
    expect((await s.verifyBody(r)).ok).toBe(true)
    const fd = fs.openSync(s.bodyPath(r), 'r+')
    const b = Buffer.alloc(1)
    fs.readSync(fd, b, 0, 1, 54321)
    b[0] = b[0]! ^ 0x01
    fs.writeSync(fd, b, 0, 1, 54321)
    fs.closeSync(fd)
    const v = await s.verifyBody(r)
    expect(v.ok).toBe(false)
    expect(v.actualSize).toBe(body.length)
    expect(v.actualCrc32c).not.toBe(r.crc32c)
    fs.unlinkSync(s.bodyPath(r))
    expect(await s.verifyBody(r)).toEqual({ok: false, actualCrc32c: 0, actualSize: 0})
  })

  it('a small corrupt body is refused and dropped when read from disk', async () => {
    const dir = tempDir()
    let {s} = await openStorage({}, dir)
    const r = (await put(s, 'http://h/corrupt', 'hello world'))!
    await s.close()
    fs.writeFileSync(s.bodyPath(r), 'hellO world')
    ;({s} = await openStorage({}, dir)) // empty memory tier: the body comes from disk
    await expect(readAll(s.readBody(r))).rejects.toThrow(/corrupt/)
    await waitFor(() => s.get('http://h/corrupt', '') === undefined)
    expect(s.usage().objects).toBe(0)
  })
})

describe('read cache', () => {
  it('hot-path gets racing removals and updates never keep a stale record cached', async () => {
    const {s} = await openStorage()
    for (let round = 0; round < 30; round++) {
      const key = `http://h/race/${round}`
      await put(s, key, 'x')
      let polling = true
      const poll = (async () => {
        while (polling) {
          s.get(key, '')
          await new Promise((r) => setImmediate(r))
        }
      })()
      await sleep(1)
      if (round % 2 === 0) {
        await s.purgeKey(key, 'delete')
        expect(s.get(key, '')).toBeUndefined()
      } else {
        await s.purgeKey(key, 'expire')
        expect(s.get(key, '')!.invalidatedAt).toBeDefined()
      }
      await sleep(2)
      polling = false
      await poll
      if (round % 2 === 0) expect(s.get(key, '')).toBeUndefined()
      else expect(s.get(key, '')!.invalidatedAt).toBeDefined()
    }
  })
})

describe('touch', () => {
  it('batches hits and last access into one write per flush', async () => {
    const {s} = await openStorage({touchFlushIntervalMs: 60_000})
    const r = (await put(s, 'http://h/t', 'x'))!
    for (let i = 0; i < 1000; i++) s.touch(r)
    expect(s.get('http://h/t', '')!.hits).toBe(0)
    await s.flushTouches()
    const after = s.get('http://h/t', '')!
    expect(after.hits).toBe(1000)
    expect(after.lastAccess).toBeGreaterThanOrEqual(r.lastAccess)
  })
})
