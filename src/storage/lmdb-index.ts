import {open} from 'lmdb'
import type {Database, RootDatabase} from 'lmdb'

import {SEP, indexKey, lruBucket, lruKey, splitIndexKey} from './keys.js'
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

/**
 * The LMDB side of storage: named databases `objects` (index key → ObjectRecord, read-cached),
 * `vary` (cache key → VaryRecord), `lru` (binary [minute bucket, index key] → 1), `meta` (counters) and
 * `partials` (index key → PartialRecord, not read-cached).
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
    readonly meta: Database<Totals, string>,
    readonly partials: Database<PartialRecord, string>,
  ) {
    const t = meta.get(TOTALS_KEY)
    this.totals = {objects: 0, diskBytes: 0, evictions: 0, expiredRemoved: 0, partials: 0, ...t}
  }

  static open(path: string): LmdbIndex {
    const root = open({path, maxDbs: 8, compression: false})
    return new LmdbIndex(
      root,
      // The read cache keeps cacheSize/4 decoded records strongly (the rest weakly, until GC): sized so that tens
      // of thousands of hot keys are served without re-decoding msgpack on every hit (~2 KB each when held).
      root.openDB<ObjectRecord, string>({name: 'objects', cache: {cacheSize: 65_536}}),
      root.openDB<VaryRecord, string>({name: 'vary'}),
      root.openDB<number, Buffer>({name: 'lru', keyEncoding: 'binary'}),
      root.openDB<Totals, string>({name: 'meta'}),
      // Not read-cached, so a get() never sees a value older than the last committed write.
      root.openDB<PartialRecord, string>({name: 'partials'}),
    )
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

  /** Write an object record (inside transaction()). */
  putObjectInTxn(ik: string, rec: ObjectRecord): void {
    this.written?.push(ik)
    void this.objects.put(ik, rec)
  }

  close(): Promise<void> {
    return this.root.close()
  }

  /** Write a partial record (inside transaction()); `bytesDelta` is added to diskBytes, `created` counts a new one. */
  putPartialInTxn(ik: string, rec: PartialRecord, bytesDelta: number, created: boolean): void {
    void this.partials.put(ik, rec)
    if (created) this.totals.partials++
    this.totals.diskBytes = Math.max(0, this.totals.diskBytes + bytesDelta)
  }

  /** Remove a partial record (inside transaction()); its file name goes to `deadFiles` unless `keepFile`. */
  removePartialInTxn(ik: string, rec: PartialRecord, deadFiles: string[], keepFile = false): void {
    void this.partials.remove(ik)
    this.totals.partials = Math.max(0, this.totals.partials - 1)
    this.totals.diskBytes = Math.max(0, this.totals.diskBytes - rec.presentBytes)
    if (!keepFile) deadFiles.push(rec.file)
  }

  /** All index keys of one cache key (its variants), from the index. */
  variantKeys(cacheKey: string): string[] {
    const start = cacheKey + SEP
    const out: string[] = []
    for (const k of this.objects.getKeys({start})) {
      if (!k.startsWith(start)) break
      out.push(k)
    }
    return out
  }

  persistTotalsInTxn(): void {
    void this.meta.put(TOTALS_KEY, {...this.totals})
  }

  /** Put a new record (replacing the old one of the same index key, if any). */
  putRecordInTxn(ik: string, rec: ObjectRecord, dead: ObjectRecord[]): void {
    const old = this.objects.get(ik)
    if (old) this.removeInTxn(ik, old, dead, false)
    this.putObjectInTxn(ik, rec)
    void this.lru.put(lruKey(lruBucket(rec.lastAccess), ik), 1)
    this.totals.objects++
    this.totals.diskBytes += rec.size
  }

  /** Remove a record (and its lru entry); optionally take its variant out of the URL's VaryRecord. */
  removeInTxn(ik: string, rec: ObjectRecord, dead: ObjectRecord[], updateVary: boolean): void {
    this.written?.push(ik)
    void this.objects.remove(ik)
    void this.lru.remove(lruKey(lruBucket(rec.lastAccess), ik))
    this.totals.objects = Math.max(0, this.totals.objects - 1)
    this.totals.diskBytes = Math.max(0, this.totals.diskBytes - rec.size)
    dead.push(rec)
    if (!updateVary) return
    const {cacheKey, variant} = splitIndexKey(ik)
    const vr = this.vary.get(cacheKey)
    if (!vr) return
    const variants = vr.variants.filter((v) => v !== variant)
    if (variants.length === 0) void this.vary.remove(cacheKey)
    else if (variants.length !== vr.variants.length) void this.vary.put(cacheKey, {names: vr.names, variants})
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
    lastAccessOf: (ik: string, rec: ObjectRecord) => number,
    dead: ObjectRecord[],
  ): void {
    const vr = this.vary.get(cacheKey)
    const ik = indexKey(cacheKey, variant)
    let variants: string[]
    if (vr && !sameNames(vr.names, names)) {
      for (const k of this.variantKeys(cacheKey)) {
        if (k === ik) continue
        const r = this.objects.get(k)
        if (r) this.removeInTxn(k, r, dead, false)
      }
      variants = [variant]
    } else {
      const others: Array<{v: string; at: number}> = []
      for (const v of vr?.variants ?? []) {
        if (v === variant) continue
        const k = indexKey(cacheKey, v)
        const r = this.objects.get(k)
        if (r) others.push({v, at: lastAccessOf(k, r)})
      }
      // Most recently used first (stable for equal times, so the stored order breaks ties).
      others.sort((a, b) => b.at - a.at)
      const max = Math.max(1, maxVariants)
      while (others.length > max - 1) {
        const {v} = others.pop()!
        const k = indexKey(cacheKey, v)
        const r = this.objects.get(k)
        if (r) this.removeInTxn(k, r, dead, false)
      }
      variants = [variant, ...others.map((o) => o.v)]
    }
    void this.vary.put(cacheKey, {names: [...names], variants})
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
