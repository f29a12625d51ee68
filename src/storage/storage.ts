import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import {Readable} from 'node:stream'

import {crc32c} from '@node-rs/crc32'

import {BodyFiles, unlinkQuiet} from './body-files.js'
import {evictBatchInTxn, gcSliceInTxn} from './eviction.js'
import {FileFillWriter} from './fill-writer.js'
import type {CompletedFill, FillHost} from './fill-writer.js'
import {SEP, bodyFileName, indexKey, lruBucket, lruKey} from './keys.js'
import {LmdbIndex} from './lmdb-index.js'
import {MemoryTier} from './memory-tier.js'
import {createPartialInTxn, evictPartialsInTxn, isPartialGarbage, markPartialInTxn, partialKeys, removePartialInTxn} from './partial-index.js'
import {PurgeLog} from './purge-log.js'
import {BackgroundRunner} from '../core/background.js'
import type {FillWriter, NewPartial, ObjectRecord, PartialHeadUpdate, PartialRecord, PurgeMode, PurgeResult, StorageUsage, VaryRecord} from './types.js'

export interface StorageLog {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface StorageOptions {
  /** Storage root; created if missing. LMDB under <dir>/index, bodies under <dir>/objects, temp files under <dir>/tmp. */
  dir: string
  /** Body bytes on disk; 0 = unlimited. */
  maxDiskBytes: number
  /** Start evicting above diskHighWatermark × maxDiskBytes ... */
  diskHighWatermark: number
  /** ... down to diskLowWatermark × maxDiskBytes. */
  diskLowWatermark: number
  /** Memory tier byte budget (0 disables). */
  maxMemoryBytes: number
  /** Only bodies <= this go to the memory tier. */
  memoryMaxObjectBytes: number
  /** Variants kept per URL (least recently used one replaced). */
  maxVariants: number
  /** Background eviction / GC tick. */
  evictionIntervalMs: number
  /** Objects stale for longer than this, with no validator, are removed in the background. */
  gcGraceSeconds: number
  log?: StorageLog
  /** Runner for background work (eviction, GC, cleanup); one is made when not given. */
  background?: BackgroundRunner
  /** How often batched touches (hits, last access) are written; default 1000 ms. */
  touchFlushIntervalMs?: number
}

/** Keys per transaction for purge / eviction batches. */
// Small enough that one batch holds the event loop for a few ms (hits keep flowing during a million-key purge).
export const PURGE_BATCH = 250
const EVICT_BATCH = 500
const GC_SLICE = 500
const FOREACH_BATCH = 500

interface PendingTouch {
  file: string
  hits: number
  last: number
  /** When this entry started collecting (an entry is written at least every TOUCH_PERSIST_MAX_MS). */
  since: number
}

/**
 * Access stats are written when a key's LRU minute bucket changes (eviction order needs that), else at least
 * this often: a key hit thousands of times a second costs one record rewrite per minute, not one per flush.
 */
const TOUCH_PERSIST_MAX_MS = 5 * 60_000

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * The object store: an LMDB index (records, vary, lru, counters), one body file per fill under `objects/`,
 * a byte-bounded memory tier for small bodies, batched access tracking and background eviction / GC.
 *
 * Records returned by get()/variants() are shared (LMDB read cache): treat them as read-only.
 */
export class Storage {
  private closed = false
  private closedIndex = false
  private readonly pendingTouches = new Map<string, PendingTouch>()
  private readonly inflight = new Set<Promise<unknown>>()
  private readonly purgeLog = new PurgeLog()
  private touchTimer: NodeJS.Timeout | undefined
  private maintenanceTimer: NodeJS.Timeout | undefined
  private maintenanceRunning: Promise<void> | undefined
  private evictionScheduled = false
  private gcCursor = ''
  private touchFlushing: Promise<void> | undefined
  private readonly host: FillHost
  /** Background work of the store (eviction, GC, cleanup after purges), caught and counted. */
  readonly background: BackgroundRunner

  private constructor(
    private readonly opts: StorageOptions,
    private readonly files: BodyFiles,
    private readonly index: LmdbIndex,
    private readonly memory: MemoryTier,
  ) {
    this.background = opts.background ?? new BackgroundRunner(opts.log)
    const self = this
    this.host = {
      get closed() {
        return self.closed
      },
      memoryCaptureLimit: memory.enabled ? Math.min(opts.memoryMaxObjectBytes, opts.maxMemoryBytes) : 0,
      commitFill: (fill) => this.track(this.commitFill(fill)),
      fillEnded: (seq) => this.purgeLog.fillEnded(seq),
      log: opts.log,
    }
  }

  /** Open (or create) the store. Does not scan the index; deletes orphan temp files. */
  static async open(opts: StorageOptions): Promise<Storage> {
    const files = new BodyFiles(opts.dir)
    const swept = files.prepareSync()
    const index = LmdbIndex.open(path.join(opts.dir, 'index'))
    const s = new Storage(opts, files, index, new MemoryTier(opts.maxMemoryBytes, opts.memoryMaxObjectBytes))
    if (swept > 0) opts.log?.info({swept}, 'storage: removed orphan temp files')
    s.touchTimer = setInterval(() => void s.flushTouches(false), opts.touchFlushIntervalMs ?? 1000)
    s.touchTimer.unref()
    if (opts.evictionIntervalMs > 0) {
      s.maintenanceTimer = setInterval(() => void s.maintain(), opts.evictionIntervalMs)
      s.maintenanceTimer.unref()
    }
    return s
  }

  // ---- lookups (sync, hot path) ---------------------------------------------------------------

  getVary(cacheKey: string): VaryRecord | undefined {
    return this.index.vary.get(cacheKey)
  }

  get(cacheKey: string, variant: string): ObjectRecord | undefined {
    return this.index.objects.get(indexKey(cacheKey, variant))
  }

  variants(cacheKey: string): ObjectRecord[] {
    const start = cacheKey + SEP
    const out: ObjectRecord[] = []
    for (const {key, value} of this.index.objects.getRange({start})) {
      if (!key.startsWith(start)) break
      out.push(value)
    }
    return out
  }

  memoryBody(rec: ObjectRecord): Buffer | undefined {
    return this.memory.get(rec.file)
  }

  bodyPath(rec: ObjectRecord): string {
    return this.files.pathOf(rec.file)
  }

  usage(): StorageUsage {
    const t = this.index.totals
    return {
      objects: t.objects,
      diskBytes: t.diskBytes,
      memoryBytes: this.memory.bytes,
      memoryObjects: this.memory.count,
      evictions: t.evictions,
      expiredRemoved: t.expiredRemoved,
      partials: t.partials,
    }
  }

  // ---- bodies ---------------------------------------------------------------------------------

  /** Stream the body (or the inclusive byte range): memory tier if present, else the file. */
  readBody(rec: ObjectRecord, start = 0, endInclusive?: number): Readable {
    const s = Math.max(0, start)
    const e = Math.min(endInclusive ?? rec.size - 1, rec.size - 1)
    if (e < s) return Readable.from([], {objectMode: false})
    const mem = this.memory.get(rec.file)
    if (mem) return Readable.from([mem.subarray(s, e + 1)], {objectMode: false})
    const p = this.files.pathOf(rec.file)
    if (this.memory.accepts(rec.size)) {
      // Small body: read it whole (async), check it, promote it, then serve the range.
      return this.smallBodyStream(rec, p, s, e)
    }
    const rs = fs.createReadStream(p, {start: s, end: e, highWaterMark: 64 * 1024})
    rs.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') this.dropMissing(rec)
    })
    return rs
  }

  private smallBodyStream(rec: ObjectRecord, p: string, s: number, e: number): Readable {
    const out = new Readable({read() {}})
    fsp.readFile(p).then(
      (buf) => {
        if (buf.length !== rec.size || crc32c(buf) !== rec.crc32c) {
          this.opts.log?.warn({key: rec.key, variant: rec.variant, file: rec.file}, 'storage: body corrupt, dropping object')
          this.dropMissing(rec)
          out.destroy(new Error('stored body is corrupt'))
          return
        }
        if (this.index.objects.get(indexKey(rec.key, rec.variant))?.file === rec.file) this.memory.set(rec.file, buf)
        out.push(buf.subarray(s, e + 1))
        out.push(null)
      },
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') this.dropMissing(rec)
        out.destroy(err)
      },
    )
    return out
  }

  /** Re-read the body file and compare its CRC32C and size with the record. */
  async verifyBody(rec: ObjectRecord): Promise<{ok: boolean; actualCrc32c: number; actualSize: number}> {
    let crc = 0
    let size = 0
    try {
      for await (const chunk of fs.createReadStream(this.files.pathOf(rec.file), {highWaterMark: 256 * 1024})) {
        crc = crc32c(chunk as Buffer, crc)
        size += (chunk as Buffer).length
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      return {ok: false, actualCrc32c: 0, actualSize: 0}
    }
    return {ok: crc === rec.crc32c && size === rec.size, actualCrc32c: crc, actualSize: size}
  }

  /** The body file of a record is gone (or corrupt): remove the record if it still points at that file. */
  private dropMissing(rec: ObjectRecord): void {
    if (this.closed) return
    const ik = indexKey(rec.key, rec.variant)
    void this.track(
      this.mutate((dead) => {
        const cur = this.index.objects.get(ik)
        if (cur && cur.file === rec.file) this.index.removeInTxn(ik, cur, dead, true)
      }),
    ).catch((err: unknown) => this.opts.log?.warn({err}, 'storage: dropping a broken object failed'))
  }

  // ---- fills ----------------------------------------------------------------------------------

  beginFill(cacheKey: string, variant: string): FillWriter {
    const seq = this.purgeLog.fillStarted()
    return new FileFillWriter(this.host, cacheKey, variant, this.files.newTempPath(), seq, (rec) => this.files.pathOf(rec.file))
  }

  private async commitFill(fill: CompletedFill): Promise<ObjectRecord | null> {
    const {cacheKey, variant, meta} = fill
    const ik = indexKey(cacheKey, variant)
    let file: string | undefined
    let ended = false
    try {
      if (this.closed || this.purgeLog.check(cacheKey, fill.startSeq) === 'delete') {
        await unlinkQuiet(fill.tmpPath)
        return null
      }
      file = bodyFileName(ik, BodyFiles.uniqueSuffix())
      await this.files.install(fill.tmpPath, file)
      if (this.closed) {
        await this.files.remove(file)
        return null
      }
      const now = Date.now()
      const stored = file
      const rec = await this.mutate((dead, deadFiles) => {
        // Checked inside the write transaction: a purge either is in the log now, or its scan runs after this put.
        const purge = this.purgeLog.check(cacheKey, fill.startSeq)
        this.purgeLog.fillEnded(fill.startSeq)
        ended = true
        if (purge === 'delete') return null
        const r: ObjectRecord = {
          key: cacheKey,
          variant,
          url: meta.url,
          status: meta.status,
          statusText: meta.statusText,
          headers: meta.headers,
          requestTime: meta.requestTime,
          responseTime: meta.responseTime,
          policy: meta.policy,
          size: fill.size,
          crc32c: fill.crc32c,
          file: stored,
          storedAt: now,
          lastAccess: now,
          hits: 0,
        }
        if (purge === 'expire') r.invalidatedAt = now
        this.index.putRecordInTxn(ik, r, dead)
        // A complete object replaces the partial one of the same key.
        removePartialInTxn(this.index, ik, undefined, deadFiles)
        this.index.updateVaryInTxn(cacheKey, variant, meta.vary ?? [], this.opts.maxVariants, (k, x) => this.lastAccessOf(k, x), dead)
        // Set here, not after the commit: a purge that runs right after this transaction must find it to drop it.
        if (fill.body) this.memory.set(stored, fill.body)
        return r
      })
      if (!rec) {
        await this.files.remove(stored)
        return null
      }
      this.maybeScheduleEviction()
      return rec
    } catch (err) {
      if (file) await this.files.remove(file).catch(() => {})
      else await unlinkQuiet(fill.tmpPath).catch(() => {})
      throw err
    } finally {
      if (!ended) this.purgeLog.fillEnded(fill.startSeq)
    }
  }

  private lastAccessOf(ik: string, rec: ObjectRecord): number {
    const t = this.pendingTouches.get(ik)
    return t && t.file === rec.file ? Math.max(t.last, rec.lastAccess) : rec.lastAccess
  }

  /**
   * Run `fn` in a write transaction. Records it removes (pushed to `dead`) lose their body files and memory-tier
   * entries after the commit. Counters are persisted in the same transaction.
   */
  private async mutate<T>(fn: (dead: ObjectRecord[], deadFiles: string[]) => T): Promise<T> {
    const dead: ObjectRecord[] = []
    const deadFiles: string[] = []
    const result = await this.index.transaction(() => {
      const r = fn(dead, deadFiles)
      if (dead.length > 0 || deadFiles.length > 0 || r) this.index.persistTotalsInTxn()
      return r
    })
    for (const rec of dead) this.forgetBody(rec)
    for (const f of deadFiles) this.files.remove(f).catch((err: unknown) => this.opts.log?.warn({err, file: f}, 'storage: could not delete a partial body file'))
    return result
  }

  private forgetBody(rec: ObjectRecord): void {
    this.memory.delete(rec.file)
    this.files.remove(rec.file).catch((err: unknown) => this.opts.log?.warn({err, file: rec.file}, 'storage: could not delete a body file'))
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p)
    const done = () => this.inflight.delete(p)
    p.then(done, done)
    return p
  }

  // ---- access tracking ------------------------------------------------------------------------

  /** Count a hit; written to the index in batches (touchFlushIntervalMs), never one write per hit. */
  touch(rec: ObjectRecord): void {
    const ik = indexKey(rec.key, rec.variant)
    const now = Date.now()
    const t = this.pendingTouches.get(ik)
    if (t && t.file === rec.file) {
      t.hits++
      t.last = now
    } else {
      this.pendingTouches.set(ik, {file: rec.file, hits: 1, last: now, since: now})
    }
  }

  /** Hits and last access of a record including touches not written yet (for inspect). */
  accessInfo(rec: ObjectRecord): {hits: number; lastAccess: number} {
    const t = this.pendingTouches.get(indexKey(rec.key, rec.variant))
    return t && t.file === rec.file ? {hits: rec.hits + t.hits, lastAccess: Math.max(rec.lastAccess, t.last)} : {hits: rec.hits, lastAccess: rec.lastAccess}
  }

  /**
   * Write batched touches (hits, lastAccess; the lru entry only when its minute bucket changes). With `all` false
   * (the periodic flush) only keys whose LRU bucket moved or that waited TOUCH_PERSIST_MAX_MS are written.
   */
  flushTouches(all = true): Promise<void> {
    if (this.touchFlushing) return this.touchFlushing.then(() => this.flushTouches(all))
    if (this.pendingTouches.size === 0 || this.closedIndex) return Promise.resolve()
    let batch = [...this.pendingTouches]
    if (!all) {
      const now = Date.now()
      batch = batch.filter(([ik, t]) => {
        const cur = this.index.objects.get(ik)
        if (cur && cur.file === t.file && lruBucket(cur.lastAccess) === lruBucket(Math.max(cur.lastAccess, t.last)) && now - t.since < TOUCH_PERSIST_MAX_MS) return false
        this.pendingTouches.delete(ik)
        return true
      })
      if (batch.length === 0) return Promise.resolve()
    } else this.pendingTouches.clear()
    const p = this.index
      .transaction(() => {
        for (const [ik, t] of batch) {
          const cur = this.index.objects.get(ik)
          if (!cur || cur.file !== t.file) continue
          const last = Math.max(cur.lastAccess, t.last)
          const ob = lruBucket(cur.lastAccess)
          const nb = lruBucket(last)
          this.index.putObjectInTxn(ik, {...cur, hits: cur.hits + t.hits, lastAccess: last})
          if (ob !== nb) {
            void this.index.lru.remove(lruKey(ob, ik))
            void this.index.lru.put(lruKey(nb, ik), 1)
          }
        }
      })
      .catch((err: unknown) => this.opts.log?.warn({err}, 'storage: flushing touches failed'))
      .finally(() => {
        this.touchFlushing = undefined
      })
    this.touchFlushing = p
    return p
  }

  // ---- revalidation ---------------------------------------------------------------------------

  async refresh(
    cacheKey: string,
    variant: string,
    update: Pick<ObjectRecord, 'headers' | 'requestTime' | 'responseTime' | 'policy'> & {status?: number},
  ): Promise<ObjectRecord | undefined> {
    if (this.closed) return undefined
    const ik = indexKey(cacheKey, variant)
    return this.track(
      this.mutate(() => {
        const cur = this.index.objects.get(ik)
        if (!cur) return undefined
        const next: ObjectRecord = {
          ...cur,
          headers: update.headers,
          requestTime: update.requestTime,
          responseTime: update.responseTime,
          policy: update.policy,
          status: update.status ?? cur.status,
        }
        delete next.invalidatedAt
        this.index.putObjectInTxn(ik, next)
        return next
      }),
    )
  }

  // ---- purge ----------------------------------------------------------------------------------

  /** Purge every variant of one URL (and its VaryRecord in delete mode). */
  async purgeKey(cacheKey: string, mode: PurgeMode): Promise<PurgeResult> {
    this.purgeLog.record(cacheKey, false, mode)
    const result: PurgeResult = {matched: 0, purged: 0, bytesFreed: 0}
    if (this.closed) return result
    await this.track(
      this.mutate((dead, deadFiles) => {
        const keys = this.index.variantKeys(cacheKey)
        this.purgeKeysInTxn(keys, mode, dead, result)
        if (mode === 'delete') void this.index.vary.remove(cacheKey)
        const partials = partialKeys(this.index, cacheKey, true, Number.MAX_SAFE_INTEGER)
        this.purgePartialsInTxn(partials, deadFiles, result)
        return keys.length > 0 || partials.length > 0
      }),
    )
    return result
  }

  /**
   * Purge every URL starting with `prefix`: a key-range scan in batches of PURGE_BATCH keys, one transaction per
   * batch, yielding to the event loop in between.
   */
  async purgePrefix(prefix: string, mode: PurgeMode, onProgress?: (r: PurgeResult) => void): Promise<PurgeResult> {
    this.purgeLog.record(prefix, true, mode)
    const result: PurgeResult = {matched: 0, purged: 0, bytesFreed: 0}
    let cursor = prefix
    let skip: string | undefined
    for (;;) {
      if (this.closed) break
      const {keys, more} = await this.track(
        this.mutate((dead) => {
          const keys: string[] = []
          let more = false
          for (const k of this.index.objects.getKeys({start: cursor, limit: PURGE_BATCH + 2})) {
            if (k === skip) continue
            if (!k.startsWith(prefix)) break
            if (keys.length === PURGE_BATCH) {
              more = true
              break
            }
            keys.push(k)
          }
          this.purgeKeysInTxn(keys, mode, dead, result)
          if (mode === 'delete') {
            let prev = ''
            for (const k of keys) {
              const ck = k.slice(0, k.indexOf(SEP))
              if (ck !== prev) void this.index.vary.remove(ck)
              prev = ck
            }
          }
          return {keys, more}
        }),
      )
      if (keys.length > 0) onProgress?.({...result})
      if (!more) break
      cursor = keys[keys.length - 1]!
      skip = cursor
      await yieldToLoop()
    }
    // Partial objects (either mode removes them: a stale partial is never reused anyway).
    let after: string | undefined
    while (!this.closed) {
      const keys = await this.track(
        this.mutate((_dead, deadFiles) => {
          const keys = partialKeys(this.index, prefix, false, PURGE_BATCH, after)
          this.purgePartialsInTxn(keys, deadFiles, result)
          return keys
        }),
      )
      if (keys.length > 0) onProgress?.({...result})
      if (keys.length < PURGE_BATCH) break
      after = keys[keys.length - 1]
      await yieldToLoop()
    }
    return result
  }

  private purgePartialsInTxn(keys: string[], deadFiles: string[], result: PurgeResult): void {
    for (const k of keys) {
      const rec = removePartialInTxn(this.index, k, undefined, deadFiles)
      if (!rec) continue
      result.matched++
      result.purged++
      result.bytesFreed += rec.presentBytes
    }
  }

  // ---- partial objects (range fills) ----------------------------------------------------------

  getPartial(cacheKey: string, variant: string): PartialRecord | undefined {
    const p = this.index.partials.get(indexKey(cacheKey, variant))
    return p && {...p, present: Buffer.from(p.present)}
  }

  partialPath(file: string): string {
    return this.files.pathOf(file)
  }

  /** A new, unique body file name for a partial object (its directory exists). */
  async newPartialFile(cacheKey: string, variant: string): Promise<{file: string; path: string}> {
    const file = bodyFileName(indexKey(cacheKey, variant), 'p' + BodyFiles.uniqueSuffix())
    const p = this.files.pathOf(file)
    await fsp.mkdir(path.dirname(p), {recursive: true})
    return {file, path: p}
  }

  /** A slice fetch begins: purges from now on are seen by createPartial(…, seq). Pair with endPartialFill. */
  beginPartialFill(): number {
    return this.purgeLog.fillStarted()
  }

  endPartialFill(seq: number): void {
    this.purgeLog.fillEnded(seq)
  }

  /** Index a new partial object (replacing any other partial of that key). Null when a purge since `seq` forbids it. */
  async createPartial(p: NewPartial, seq: number): Promise<PartialRecord | null> {
    if (this.closed) return null
    const ik = indexKey(p.key, p.variant)
    return this.track(
      this.mutate((_dead, deadFiles) => {
        if (this.purgeLog.check(p.key, seq) !== undefined) return null
        return createPartialInTxn(this.index, ik, p, Date.now(), deadFiles)
      }),
    )
  }

  /** Mark fully written slices present (and store newer response metadata). False when the partial is gone or replaced. */
  async markPartial(cacheKey: string, variant: string, file: string, slices: readonly number[], head?: PartialHeadUpdate): Promise<boolean> {
    if (this.closed) return false
    const ik = indexKey(cacheKey, variant)
    const r = await this.track(this.mutate(() => markPartialInTxn(this.index, ik, file, slices, head, Date.now())))
    if (r) this.maybeScheduleEviction()
    return r !== undefined
  }

  /** Drop a partial object (only if its body is still `file`, when given); its file is deleted. */
  async removePartial(cacheKey: string, variant: string, file?: string): Promise<void> {
    if (this.closed) return
    const ik = indexKey(cacheKey, variant)
    await this.track(this.mutate((_dead, deadFiles) => removePartialInTxn(this.index, ik, file, deadFiles) !== undefined))
  }

  /**
   * Every slice is present: the partial becomes a complete object on the same body file (CRC32C of the whole body
   * computed by the caller). Null when the partial is gone or replaced meanwhile.
   */
  async promotePartial(cacheKey: string, variant: string, file: string, crc: number): Promise<ObjectRecord | null> {
    if (this.closed) return null
    const ik = indexKey(cacheKey, variant)
    const rec = await this.track(
      this.mutate((dead, deadFiles) => {
        const cur = this.index.partials.get(ik)
        if (!cur || cur.file !== file) return null
        this.index.removePartialInTxn(ik, cur, deadFiles, true)
        const now = Date.now()
        const r: ObjectRecord = {
          key: cacheKey,
          variant,
          url: cur.url,
          status: 200,
          statusText: cur.statusText,
          headers: cur.headers,
          requestTime: cur.requestTime,
          responseTime: cur.responseTime,
          policy: cur.policy,
          size: cur.size,
          crc32c: crc,
          file,
          storedAt: now,
          lastAccess: now,
          hits: 0,
        }
        this.index.putRecordInTxn(ik, r, dead)
        this.index.updateVaryInTxn(cacheKey, variant, cur.vary, this.opts.maxVariants, (k, x) => this.lastAccessOf(k, x), dead)
        return r
      }),
    )
    if (rec) this.maybeScheduleEviction()
    return rec
  }

  private purgeKeysInTxn(keys: string[], mode: PurgeMode, dead: ObjectRecord[], result: PurgeResult): void {
    const now = Date.now()
    for (const k of keys) {
      const rec = this.index.objects.get(k)
      if (!rec) continue
      result.matched++
      result.purged++
      if (mode === 'delete') {
        result.bytesFreed += rec.size
        this.index.removeInTxn(k, rec, dead, false)
      } else {
        this.index.putObjectInTxn(k, {...rec, invalidatedAt: now})
      }
    }
  }

  // ---- tools ----------------------------------------------------------------------------------

  /** Call `fn` for every record whose cache key starts with `prefix` (in key order, batched). Returns the count. */
  async forEach(prefix: string, fn: (rec: ObjectRecord) => void | Promise<void>): Promise<number> {
    let cursor = prefix
    let skip: string | undefined
    let n = 0
    for (;;) {
      const batch: Array<{key: string; value: ObjectRecord}> = []
      let more = false
      for (const e of this.index.objects.getRange({start: cursor, limit: FOREACH_BATCH + 2})) {
        if (e.key === skip) continue
        if (!e.key.startsWith(prefix)) break
        if (batch.length === FOREACH_BATCH) {
          more = true
          break
        }
        batch.push(e)
      }
      for (const {value} of batch) {
        await fn(value)
        n++
      }
      if (!more || this.closedIndex) return n
      cursor = batch[batch.length - 1]!.key
      skip = cursor
      await yieldToLoop()
    }
  }

  // ---- background maintenance -----------------------------------------------------------------

  private maybeScheduleEviction(): void {
    const max = this.opts.maxDiskBytes
    if (max <= 0 || this.evictionScheduled || this.index.totals.diskBytes <= this.opts.diskHighWatermark * max) return
    this.evictionScheduled = true
    setImmediate(() => {
      this.evictionScheduled = false
      void this.maintain(false)
    })
  }

  /** One maintenance round: evict down to the low watermark if above the high one, then a GC slice. */
  maintain(gc = true): Promise<void> {
    if (this.maintenanceRunning || this.closed) return this.maintenanceRunning ?? Promise.resolve()
    const p = (async () => {
      try {
        await this.evictIfNeeded()
        if (gc && !this.closed) await this.gcSlice()
      } catch (err) {
        this.opts.log?.error({err}, 'storage: maintenance failed')
      }
    })().finally(() => {
      this.maintenanceRunning = undefined
    })
    this.maintenanceRunning = p
    return p
  }

  private async evictIfNeeded(): Promise<void> {
    const max = this.opts.maxDiskBytes
    if (max <= 0 || this.index.totals.diskBytes <= this.opts.diskHighWatermark * max) return
    await this.flushTouches(false)
    const target = this.opts.diskLowWatermark * max
    let total = 0
    while (!this.closed && this.index.totals.diskBytes > target) {
      const {evicted, exhausted} = await this.mutate((dead) => evictBatchInTxn(this.index, target, EVICT_BATCH, dead))
      total += evicted
      if (exhausted && evicted === 0) break
      await yieldToLoop()
    }
    // Partial objects are not in the lru: when evicting complete objects was not enough, they go too.
    while (!this.closed && this.index.totals.diskBytes > target && this.index.totals.partials > 0) {
      const n = await this.mutate((_dead, deadFiles) => evictPartialsInTxn(this.index, target, EVICT_BATCH, deadFiles))
      total += n
      if (n === 0) break
      await yieldToLoop()
    }
    if (total > 0) this.opts.log?.info({evicted: total, diskBytes: this.index.totals.diskBytes}, 'storage: evicted objects')
  }

  private async gcSlice(): Promise<void> {
    const now = Date.now()
    const {next} = await this.mutate((dead) => {
      const r = gcSliceInTxn(this.index, this.gcCursor, GC_SLICE, now, this.opts.gcGraceSeconds, dead)
      return {next: r.next, removed: r.removed}
    })
    this.gcCursor = next
    if (this.index.totals.partials === 0 || this.closed) return
    const grace = this.opts.gcGraceSeconds
    const pc = await this.mutate((_dead, deadFiles) => {
      let seen = 0
      let last = ''
      let removed = 0
      for (const {key, value} of this.index.partials.getRange({start: this.partialGcCursor, limit: GC_SLICE + 1})) {
        if (this.partialGcCursor !== '' && key === this.partialGcCursor) continue
        seen++
        last = key
        if (isPartialGarbage(value, now, grace)) {
          this.index.removePartialInTxn(key, value, deadFiles)
          removed++
        }
        if (seen >= GC_SLICE) break
      }
      this.index.totals.expiredRemoved += removed
      return {next: seen < GC_SLICE ? '' : last}
    })
    this.partialGcCursor = pc.next
  }

  private partialGcCursor = ''

  // ---- shutdown -------------------------------------------------------------------------------

  /** Flush batched touches and counters, wait for in-flight commits and purges, close LMDB. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.touchTimer)
    clearInterval(this.maintenanceTimer)
    while (this.inflight.size > 0 || this.maintenanceRunning) {
      await Promise.allSettled([...this.inflight, this.maintenanceRunning])
    }
    await this.flushTouches()
    await this.index.transaction(() => this.index.persistTotalsInTxn())
    this.closedIndex = true
    await this.index.close()
  }
}
