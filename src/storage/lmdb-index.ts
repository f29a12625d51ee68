import fs from 'node:fs'
import path from 'node:path'

import {open} from 'lmdb'
import type {Database, RootDatabase} from 'lmdb'

import {lruBucket, lruKey, storedKey, storedUrlKey, utf8KeyEncoder, variantRange} from './keys.js'
import {scanAll} from './scan.js'
import type {ObjectRecord, PartialRecord, VaryRecord} from './types.js'

/** Persisted counters (so that a restart needs no scan). */
export interface Totals {
  objects: number
  diskBytes: number
  evictions: number
  expiredRemoved: number
  /** Partial objects; their present bytes are counted in diskBytes. */
  partials: number
}

const TOTALS_KEY = 'totals'
const FORMAT_KEY = 'format'
/**
 * On-disk format of the index. 1 (no `format` entry): lmdb-js ordered-binary string keys, which do not round-trip
 * keys with NUL past ~63 characters. 2: UTF-8 stored keys (keys.ts), the `files` db.
 */
export const INDEX_FORMAT = 2
const DB_NAMES = ['objects', 'vary', 'lru', 'meta', 'partials', 'files'] as const

/** The index was written by a newer tavern: refuse rather than destroy or misread it. */
export class IndexFormatError extends Error {}

/** What open() did to an index of an older format. */
export interface OpenReport {
  /** The format found (undefined for a new, empty index). */
  foundFormat: number | undefined
  /** The index was of an older format and was emptied (its body files become orphans, reclaimed in the background). */
  reset: boolean
}

const FILE_MODE = 0o600

/**
 * The LMDB side of storage: named databases `objects` (stored key → ObjectRecord, read-cached),
 * `vary` (stored URL key → VaryRecord), `lru` (binary [minute bucket, stored key] → 1), `meta` (counters, format),
 * `partials` (stored key → PartialRecord, not read-cached) and `files` (body file name → stored key of the record that
 * owns it, so the orphan sweep needs no scan of the index). Keys are stored keys (keys.ts), UTF-8 encoded.
 * The *InTxn helpers must be called inside `transaction()`; they collect removed records in `dead`
 * so the caller can delete body files and memory-tier entries once the transaction committed.
 */
export class LmdbIndex {
  readonly totals: Totals

  private constructor(
    private readonly root: RootDatabase,
    readonly objects: Database<ObjectRecord, string>,
    readonly vary: Database<VaryRecord, string>,
    readonly lru: Database<number, Buffer>,
    readonly meta: Database<Totals | number, string>,
    readonly partials: Database<PartialRecord, string>,
    readonly files: Database<string, string>,
  ) {
    const t = meta.get(TOTALS_KEY) as Totals | undefined
    this.totals = {objects: 0, diskBytes: 0, evictions: 0, expiredRemoved: 0, partials: 0, ...t}
  }

  /**
   * Open the index at `dir`. `owner`: this process may convert an index of an older format (by emptying it);
   * other processes refuse one. Throws IndexFormatError for a format newer than INDEX_FORMAT.
   */
  static async open(dir: string, owner: boolean): Promise<{index: LmdbIndex; report: OpenReport}> {
    // permissionsMode is read by lmdb-js's native open (mode of data.mdb / lock.mdb) but missing from its typings.
    const root = open({path: dir, maxDbs: 8, compression: false, ...({permissionsMode: FILE_MODE} as object)})
    try {
      // LMDB creates its files with permissionsMode & ~umask; ones made by an older version may be wider.
      for (const f of ['data.mdb', 'lock.mdb']) fs.chmodSync(path.join(dir, f), FILE_MODE)
      const enc = {keyEncoder: utf8KeyEncoder}
      const dbs = {
        // The read cache keeps cacheSize/4 decoded records strongly (the rest weakly, until GC): sized so that tens
        // of thousands of hot keys are served without re-decoding msgpack on every hit (~2 KB each when held).
        objects: root.openDB<ObjectRecord, string>({name: 'objects', ...enc, cache: {cacheSize: 65_536}}),
        vary: root.openDB<VaryRecord, string>({name: 'vary', ...enc}),
        lru: root.openDB<number, Buffer>({name: 'lru', keyEncoding: 'binary'}),
        meta: root.openDB<Totals | number, string>({name: 'meta', ...enc}),
        // Not read-cached, so a get() never sees a value older than the last committed write.
        partials: root.openDB<PartialRecord, string>({name: 'partials', ...enc}),
        files: root.openDB<string, string>({name: 'files', ...enc}),
      }
      const found = dbs.meta.get(FORMAT_KEY) as number | undefined
      let reset = false
      if (typeof found === 'number' && found > INDEX_FORMAT) {
        throw new IndexFormatError(`storage index ${dir} has format ${found}, newer than this tavern understands (${INDEX_FORMAT}): run a newer tavern or use another storage directory`)
      }
      if (found !== INDEX_FORMAT) {
        const empty = DB_NAMES.every((n) => isEmptyDb(dbs[n] as Database<unknown, string | Buffer>))
        if (!empty) {
          if (!owner) throw new IndexFormatError(`storage index ${dir} has format ${found ?? 1}; the owning daemon converts it when it starts`)
          // Records of the old format cannot be read reliably (their keys do not round-trip): start empty.
          for (const n of DB_NAMES) await dbs[n].clearAsync()
          reset = true
        }
        await root.transaction(() => {
          if (reset) void dbs.meta.put(TOTALS_KEY, {objects: 0, diskBytes: 0, evictions: 0, expiredRemoved: 0, partials: 0})
          void dbs.meta.put(FORMAT_KEY, INDEX_FORMAT)
        })
      }
      return {index: new LmdbIndex(root, dbs.objects, dbs.vary, dbs.lru, dbs.meta, dbs.partials, dbs.files), report: {foundFormat: found ?? (reset ? 1 : undefined), reset}}
    } catch (error) {
      await root.close().catch(() => {})
      throw error
    }
  }

  /**
   * Run `fn` in a write transaction. Every object key written through putObjectInTxn / removeInTxn is dropped from
   * the read cache once the transaction committed: a get() that ran between the callback and the commit read the
   * old snapshot and may have re-cached the old value (lmdb's cache would then serve it indefinitely).
   */
  async transaction<T>(fn: () => T): Promise<T> {
    const written: string[] = []
    const result = await this.root.transaction(() => {
      this.written = written
      try {
        return fn()
      } finally {
        this.written = undefined
      }
    })
    const cache = (this.objects as unknown as {cache?: Map<string, unknown>}).cache
    if (cache) for (const k of written) cache.delete(k)
    return result
  }

  private written: string[] | undefined

  /** The record of one variant, if stored (its full key and variant are checked: a hashed stored key is not proof). */
  getObject(cacheKey: string, variant: string): ObjectRecord | undefined {
    const rec = this.objects.get(storedKey(cacheKey, variant))
    return rec && rec.key === cacheKey && rec.variant === variant ? rec : undefined
  }

  getPartialRecord(cacheKey: string, variant: string): PartialRecord | undefined {
    const rec = this.partials.get(storedKey(cacheKey, variant))
    return rec && rec.key === cacheKey && rec.variant === variant ? rec : undefined
  }

  getVary(cacheKey: string): VaryRecord | undefined {
    const vr = this.vary.get(storedUrlKey(cacheKey))
    return vr && vr.key === cacheKey ? vr : undefined
  }

  /** Write an object record whose body file does not change (inside transaction()). */
  putObjectInTxn(sk: string, rec: ObjectRecord): void {
    this.written?.push(sk)
    void this.objects.put(sk, rec)
  }

  close(): Promise<void> {
    return this.root.close()
  }

  /** The `hot` database (hot-set.ts: cache key → score), in the same environment; maxDbs leaves room for it. */
  hotDb(): Database<number, string> {
    const enc = {keyEncoder: utf8KeyEncoder}
    return this.root.openDB<number, string>({name: 'hot', ...enc})
  }

  /** Write a partial record (inside transaction()); `bytesDelta` is added to diskBytes, `created` counts a new one. */
  putPartialInTxn(sk: string, rec: PartialRecord, bytesDelta: number, created: boolean): void {
    void this.partials.put(sk, rec)
    if (created) {
      this.totals.partials++
      void this.files.put(rec.file, sk)
    }
    this.totals.diskBytes = Math.max(0, this.totals.diskBytes + bytesDelta)
  }

  /** Remove a partial record (inside transaction()); its file name goes to `deadFiles` unless `keepFile`. */
  removePartialInTxn(sk: string, rec: PartialRecord, deadFiles: string[], keepFile = false): void {
    void this.partials.remove(sk)
    this.totals.partials = Math.max(0, this.totals.partials - 1)
    this.totals.diskBytes = Math.max(0, this.totals.diskBytes - rec.presentBytes)
    if (!keepFile) {
      void this.files.remove(rec.file)
      deadFiles.push(rec.file)
    }
  }

  /** Every variant of one cache key: stored keys and records (full key checked). */
  variantEntries(cacheKey: string): Array<{key: string; value: ObjectRecord}> {
    return scanAll(this.objects, {prefix: variantRange(cacheKey), limit: 64, match: (r) => r.key === cacheKey})
  }

  /** Every partial record of one cache key. */
  partialEntries(cacheKey: string): Array<{key: string; value: PartialRecord}> {
    return scanAll(this.partials, {prefix: variantRange(cacheKey), limit: 64, match: (r) => r.key === cacheKey})
  }

  persistTotalsInTxn(): void {
    void this.meta.put(TOTALS_KEY, {...this.totals})
  }

  /** Put a new record (replacing the old one of the same stored key, if any). */
  putRecordInTxn(sk: string, rec: ObjectRecord, dead: ObjectRecord[]): void {
    const old = this.objects.get(sk)
    if (old) this.removeInTxn(sk, old, dead, false)
    this.putObjectInTxn(sk, rec)
    void this.files.put(rec.file, sk)
    void this.lru.put(lruKey(lruBucket(rec.lastAccess), sk), 1)
    this.totals.objects++
    this.totals.diskBytes += rec.size
  }

  /** Remove a record (and its lru entry); optionally take its variant out of the URL's VaryRecord. */
  removeInTxn(sk: string, rec: ObjectRecord, dead: ObjectRecord[], updateVary: boolean): void {
    this.written?.push(sk)
    void this.objects.remove(sk)
    void this.lru.remove(lruKey(lruBucket(rec.lastAccess), sk))
    void this.files.remove(rec.file)
    this.totals.objects = Math.max(0, this.totals.objects - 1)
    this.totals.diskBytes = Math.max(0, this.totals.diskBytes - rec.size)
    dead.push(rec)
    if (!updateVary) return
    const vk = storedUrlKey(rec.key)
    const vr = this.vary.get(vk)
    if (!vr || vr.key !== rec.key) return
    const variants = vr.variants.filter((v) => v !== rec.variant)
    if (variants.length === 0) void this.vary.remove(vk)
    else if (variants.length !== vr.variants.length) void this.vary.put(vk, {key: vr.key, names: vr.names, variants})
  }

  /** Drop the VaryRecord of a cache key (inside transaction()). */
  removeVaryInTxn(cacheKey: string): void {
    const vk = storedUrlKey(cacheKey)
    if (this.vary.get(vk)?.key === cacheKey) void this.vary.remove(vk)
  }

  /**
   * Record `variant` in the URL's VaryRecord after a commit. If the Vary names changed, every other variant is dropped;
   * over `maxVariants`, the least recently used variants go (by `lastAccessOf`).
   */
  updateVaryInTxn(
    cacheKey: string,
    variant: string,
    names: string[],
    maxVariants: number,
    lastAccessOf: (sk: string, rec: ObjectRecord) => number,
    dead: ObjectRecord[],
  ): void {
    const vr = this.getVary(cacheKey)
    let variants: string[]
    if (vr && !sameNames(vr.names, names)) {
      for (const {key, value} of this.variantEntries(cacheKey)) {
        if (value.variant !== variant) this.removeInTxn(key, value, dead, false)
      }
      variants = [variant]
    } else {
      const others: Array<{v: string; at: number}> = []
      for (const v of vr?.variants ?? []) {
        if (v === variant) continue
        const r = this.getObject(cacheKey, v)
        if (r) others.push({v, at: lastAccessOf(storedKey(cacheKey, v), r)})
      }
      // Most recently used first (stable for equal times, so the stored order breaks ties).
      others.sort((a, b) => b.at - a.at)
      const max = Math.max(1, maxVariants)
      while (others.length > max - 1) {
        const {v} = others.pop()!
        const r = this.getObject(cacheKey, v)
        if (r) this.removeInTxn(storedKey(cacheKey, v), r, dead, false)
      }
      variants = [variant, ...others.map((o) => o.v)]
    }
    void this.vary.put(storedUrlKey(cacheKey), {key: cacheKey, names: [...names], variants})
  }
}

function isEmptyDb(db: Database<unknown, string | Buffer>): boolean {
  for (const _ of db.getKeys({start: Buffer.alloc(0) as unknown as string, limit: 1})) return false
  return true
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
