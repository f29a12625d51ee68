import fs from 'node:fs'
import fsp from 'node:fs/promises'
import {Readable} from 'node:stream'

import {crc32c} from '@node-rs/crc32'

import {BodyFiles, unlinkQuiet} from './body-files.js'
import {DirLock, HEARTBEAT_MS} from './dir-lock.js'
import {evictBatchInTxn, gcSliceInTxn} from './eviction.js'
import {FileFillWriter} from './fill-writer.js'
import type {CompletedFill, FillHost} from './fill-writer.js'
import {bodyFileName, indexKey, lruBucket, lruKey, prefixRange, storedKey} from './keys.js'
import {LmdbIndex} from './lmdb-index.js'
import {MemoryTier} from './memory-tier.js'
import {sweepOrphans} from './orphans.js'
import {createPartialInTxn, evictPartialsInTxn, isPartialGarbage, markPartialInTxn, removePartialInTxn} from './partial-index.js'
import {PurgeLog} from './purge-log.js'
import {scanPage} from './scan.js'
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
  /**
   * Take the storage-directory lock (default true): this process owns the directory, sweeps temp files and orphan
   * bodies, and converts an index of an older format. Other processes of the same daemon open with false.
   */
  lock?: boolean
  /**
   * The orphan sweep at start-up also leaves files changed less than this long before open() (default 0: bodies this
   * process installs are known to it until committed, and on file systems with ns timestamps every later change is
   * after open(); raise it on a file system with coarse timestamps).
   */
  orphanSlackMs?: number
}

/** Keys per transaction for purge / eviction batches. */
// Small enough that one batch holds the event loop for a few ms (hits keep flowing during a million-key purge).
export const PURGE_BATCH = 250
const EVICT_BATCH = 500
const GC_SLICE = 500
const FOREACH_BATCH = 500
/** After start-up, orphan bodies are looked for again this often, among files unchanged for ORPHAN_MIN_AGE_MS. */
const ORPHAN_SWEEP_INTERVAL_MS = 24 * 3600_000
const ORPHAN_MIN_AGE_MS = 3600_000

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
  /** Fill writers not yet committed or aborted. */
  private readonly openFills = new Set<FileFillWriter>()
  /** Body files renamed into objects/ whose commit has not settled yet (live, though no record names them). */
  private readonly installing = new Set<string>()
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
  private lockTimer: NodeJS.Timeout | undefined
  private orphanTimer: NodeJS.Timeout | undefined
  private orphanSweeping: Promise<unknown> | undefined
  /** Background work of the store (eviction, GC, cleanup after purges), caught and counted. */
  readonly background: BackgroundRunner

  private constructor(
    private readonly opts: StorageOptions,
    private readonly files: BodyFiles,
    private readonly index: LmdbIndex,
    private readonly memory: MemoryTier,
    private readonly lock: DirLock | undefined,
    private readonly openedAt: number,
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
      background: this.background,
      log: opts.log,
    }
  }

  /**
   * Open (or create) the store. Does not scan the index. The owning process (lock, the default) takes the
   * storage-directory lock (StorageLockedError when another daemon holds it), deletes orphan temp files, converts an
   * index of an older format by starting empty, and sweeps orphan body files in the background.
   */
  static async open(opts: StorageOptions): Promise<Storage> {
    const openedAt = Date.now()
    const owner = opts.lock !== false
    const files = new BodyFiles(opts.dir)
    const {exposed} = files.prepareRootSync()
    if (exposed) opts.log?.warn({dir: opts.dir}, 'storage: the storage directory is accessible to other users (its own sub-directories are 0700)')
    const lock = owner ? DirLock.acquire(opts.dir, opts.log) : undefined
    let s: Storage
    try {
      const swept = files.prepareSync(owner)
      if (swept > 0) opts.log?.info({swept}, 'storage: removed orphan temp files')
      const {index, report} = await LmdbIndex.open(files.indexDir, owner)
      if (report.reset) {
        opts.log?.warn({dir: opts.dir, foundFormat: report.foundFormat}, 'storage: the index has an older format this version cannot read reliably; starting with an empty cache (old body files are reclaimed in the background)')
      }
      s = new Storage(opts, files, index, new MemoryTier(opts.maxMemoryBytes, opts.memoryMaxObjectBytes), lock, openedAt)
    } catch (error) {
      lock?.release()
      throw error
    }
    s.touchTimer = setInterval(() => void s.background.run('storage.flush-touches', () => s.flushTouches(false)), opts.touchFlushIntervalMs ?? 1000)
    s.touchTimer.unref()
    if (opts.evictionIntervalMs > 0) {
      s.maintenanceTimer = setInterval(() => void s.background.run('storage.maintenance', () => s.maintain()), opts.evictionIntervalMs)
      s.maintenanceTimer.unref()
    }
    if (lock) {
      s.lockTimer = setInterval(() => void s.background.run('storage.lock-heartbeat', () => lock.heartbeat()), HEARTBEAT_MS)
      s.lockTimer.unref()
      void s.startOrphanSweep()
      s.orphanTimer = setInterval(() => void s.startOrphanSweep(), ORPHAN_SWEEP_INTERVAL_MS)
      s.orphanTimer.unref()
    }
    return s
  }

  // ---- lookups (sync, hot path) ---------------------------------------------------------------

  getVary(cacheKey: string): VaryRecord | undefined {
    return this.index.getVary(cacheKey)
  }

  get(cacheKey: string, variant: string): ObjectRecord | undefined {
    return this.index.getObject(cacheKey, variant)
  }

  variants(cacheKey: string): ObjectRecord[] {
    return this.index.variantEntries(cacheKey).map((e) => e.value)
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
        if (this.index.getObject(rec.key, rec.variant)?.file === rec.file) this.memory.set(rec.file, buf)
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
    const sk = storedKey(rec.key, rec.variant)
    void this.background.run(
      'storage.drop-broken-object',
      this.track(
        this.mutate((dead) => {
          const cur = this.index.objects.get(sk)
          if (cur && cur.file === rec.file) this.index.removeInTxn(sk, cur, dead, true)
        }),
      ),
    )
  }

  // ---- fills ----------------------------------------------------------------------------------

  beginFill(cacheKey: string, variant: string): FillWriter {
    const seq = this.purgeLog.fillStarted()
    const w = new FileFillWriter(this.host, cacheKey, variant, this.files.newTempPath(), seq, (rec) => this.files.pathOf(rec.file))
    // Fills still open when the store closes are aborted there, so their temp file handles are closed, not left to GC.
    this.openFills.add(w)
    void w.settled.then(() => this.openFills.delete(w))
    return w
  }

  private async commitFill(fill: CompletedFill): Promise<ObjectRecord | null> {
    const {cacheKey, variant, meta} = fill
    const sk = storedKey(cacheKey, variant)
    let file: string | undefined
    let ended = false
    try {
      if (this.closed || this.purgeLog.check(cacheKey, fill.startSeq) === 'delete') {
        await unlinkQuiet(fill.tmpPath)
        return null
      }
      file = bodyFileName(indexKey(cacheKey, variant), BodyFiles.uniqueSuffix())
      // Between rename and commit no record names the file: the orphan sweep must see it as live.
      this.installing.add(file)
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
        this.index.putRecordInTxn(sk, r, dead)
        // A complete object replaces the partial one of the same key.
        removePartialInTxn(this.index, sk, undefined, deadFiles)
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
      if (file) this.installing.delete(file)
      if (!ended) this.purgeLog.fillEnded(fill.startSeq)
    }
  }

  private lastAccessOf(sk: string, rec: ObjectRecord): number {
    const t = this.pendingTouches.get(sk)
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
    for (const f of deadFiles) void this.background.run('storage.delete-body-file', this.files.remove(f))
    return result
  }

  private forgetBody(rec: ObjectRecord): void {
    this.memory.delete(rec.file)
    // A failure (EIO…) is logged by the runner; the file, no longer referenced, is reclaimed by a later orphan sweep.
    void this.background.run('storage.delete-body-file', this.files.remove(rec.file))
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
    const sk = storedKey(rec.key, rec.variant)
    const now = Date.now()
    const t = this.pendingTouches.get(sk)
    if (t && t.file === rec.file) {
      t.hits++
      t.last = now
    } else {
      this.pendingTouches.set(sk, {file: rec.file, hits: 1, last: now, since: now})
    }
  }

  /** Hits and last access of a record including touches not written yet (for inspect). */
  accessInfo(rec: ObjectRecord): {hits: number; lastAccess: number} {
    const t = this.pendingTouches.get(storedKey(rec.key, rec.variant))
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
      batch = batch.filter(([sk, t]) => {
        const cur = this.index.objects.get(sk)
        if (cur && cur.file === t.file && lruBucket(cur.lastAccess) === lruBucket(Math.max(cur.lastAccess, t.last)) && now - t.since < TOUCH_PERSIST_MAX_MS) return false
        this.pendingTouches.delete(sk)
        return true
      })
      if (batch.length === 0) return Promise.resolve()
    } else this.pendingTouches.clear()
    const p = this.index
      .transaction(() => {
        for (const [sk, t] of batch) {
          const cur = this.index.objects.get(sk)
          if (!cur || cur.file !== t.file) continue
          const last = Math.max(cur.lastAccess, t.last)
          const ob = lruBucket(cur.lastAccess)
          const nb = lruBucket(last)
          this.index.putObjectInTxn(sk, {...cur, hits: cur.hits + t.hits, lastAccess: last})
          if (ob !== nb) {
            void this.index.lru.remove(lruKey(ob, sk))
            void this.index.lru.put(lruKey(nb, sk), 1)
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
    const sk = storedKey(cacheKey, variant)
    return this.track(
      this.mutate(() => {
        const cur = this.index.getObject(cacheKey, variant)
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
        this.index.putObjectInTxn(sk, next)
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
        const entries = this.index.variantEntries(cacheKey)
        this.purgeEntriesInTxn(entries, mode, dead, result)
        if (mode === 'delete') this.index.removeVaryInTxn(cacheKey)
        const partials = this.index.partialEntries(cacheKey)
        this.purgePartialsInTxn(partials, deadFiles, result)
        return entries.length > 0 || partials.length > 0
      }),
    )
    return result
  }

  /**
   * Purge every URL starting with `prefix`: a key-range scan in pages of PURGE_BATCH keys, one transaction per page,
   * yielding to the event loop in between. A prefix longer than what stored keys keep is checked against each
   * record's full key.
   */
  async purgePrefix(prefix: string, mode: PurgeMode, onProgress?: (r: PurgeResult) => void): Promise<PurgeResult> {
    this.purgeLog.record(prefix, true, mode)
    const result: PurgeResult = {matched: 0, purged: 0, bytesFreed: 0}
    const {start, exact} = prefixRange(prefix)
    const match = exact ? undefined : (r: {key: string}) => r.key.startsWith(prefix)
    let after: string | undefined
    while (!this.closed) {
      const {n, next} = await this.track(
        this.mutate((dead) => {
          const page = scanPage(this.index.objects, {prefix: start, after, limit: PURGE_BATCH, match})
          this.purgeEntriesInTxn(page.entries, mode, dead, result)
          if (mode === 'delete') {
            let prev: string | undefined
            for (const {value} of page.entries) {
              if (value.key !== prev) this.index.removeVaryInTxn(value.key)
              prev = value.key
            }
          }
          return {n: page.entries.length, next: page.next}
        }),
      )
      if (n > 0) onProgress?.({...result})
      if (next === undefined) break
      after = next
      await yieldToLoop()
    }
    // Partial objects (either mode removes them: a stale partial is never reused anyway).
    after = undefined
    while (!this.closed) {
      const {n, next} = await this.track(
        this.mutate((_dead, deadFiles) => {
          const page = scanPage(this.index.partials, {prefix: start, after, limit: PURGE_BATCH, match})
          this.purgePartialsInTxn(page.entries, deadFiles, result)
          return {n: page.entries.length, next: page.next}
        }),
      )
      if (n > 0) onProgress?.({...result})
      if (next === undefined) break
      after = next
      await yieldToLoop()
    }
    return result
  }

  private purgePartialsInTxn(entries: ReadonlyArray<{key: string; value: PartialRecord}>, deadFiles: string[], result: PurgeResult): void {
    for (const {key, value} of entries) {
      this.index.removePartialInTxn(key, value, deadFiles)
      result.matched++
      result.purged++
      result.bytesFreed += value.presentBytes
    }
  }

  // ---- partial objects (range fills) ----------------------------------------------------------

  getPartial(cacheKey: string, variant: string): PartialRecord | undefined {
    const p = this.index.getPartialRecord(cacheKey, variant)
    return p && {...p, present: Buffer.from(p.present)}
  }

  partialPath(file: string): string {
    return this.files.pathOf(file)
  }

  /** A new, unique body file for a partial object: created empty (0600), so opening it for writing keeps that mode. */
  async newPartialFile(cacheKey: string, variant: string): Promise<{file: string; path: string}> {
    const file = bodyFileName(indexKey(cacheKey, variant), 'p' + BodyFiles.uniqueSuffix())
    return {file, path: await this.files.createEmpty(file)}
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
    const sk = storedKey(p.key, p.variant)
    return this.track(
      this.mutate((_dead, deadFiles) => {
        if (this.purgeLog.check(p.key, seq) !== undefined) return null
        return createPartialInTxn(this.index, sk, p, Date.now(), deadFiles)
      }),
    )
  }

  /** Mark fully written slices present (and store newer response metadata). False when the partial is gone or replaced. */
  async markPartial(cacheKey: string, variant: string, file: string, slices: readonly number[], head?: PartialHeadUpdate): Promise<boolean> {
    if (this.closed) return false
    const sk = storedKey(cacheKey, variant)
    const r = await this.track(this.mutate(() => markPartialInTxn(this.index, sk, file, slices, head, Date.now())))
    if (r) this.maybeScheduleEviction()
    return r !== undefined
  }

  /** Drop a partial object (only if its body is still `file`, when given); its file is deleted. */
  async removePartial(cacheKey: string, variant: string, file?: string): Promise<void> {
    if (this.closed) return
    const sk = storedKey(cacheKey, variant)
    await this.track(this.mutate((_dead, deadFiles) => removePartialInTxn(this.index, sk, file, deadFiles) !== undefined))
  }

  /**
   * Every slice is present: the partial becomes a complete object on the same body file (CRC32C of the whole body
   * computed by the caller). Null when the partial is gone or replaced meanwhile.
   */
  async promotePartial(cacheKey: string, variant: string, file: string, crc: number): Promise<ObjectRecord | null> {
    if (this.closed) return null
    const sk = storedKey(cacheKey, variant)
    const rec = await this.track(
      this.mutate((dead, deadFiles) => {
        const cur = this.index.partials.get(sk)
        if (!cur || cur.file !== file) return null
        this.index.removePartialInTxn(sk, cur, deadFiles, true)
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
        this.index.putRecordInTxn(sk, r, dead)
        this.index.updateVaryInTxn(cacheKey, variant, cur.vary, this.opts.maxVariants, (k, x) => this.lastAccessOf(k, x), dead)
        return r
      }),
    )
    if (rec) this.maybeScheduleEviction()
    return rec
  }

  private purgeEntriesInTxn(entries: ReadonlyArray<{key: string; value: ObjectRecord}>, mode: PurgeMode, dead: ObjectRecord[], result: PurgeResult): void {
    const now = Date.now()
    for (const {key: k, value: rec} of entries) {
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
    const {start, exact} = prefixRange(prefix)
    const match = exact ? undefined : (r: ObjectRecord) => r.key.startsWith(prefix)
    let after: string | undefined
    let n = 0
    while (!this.closedIndex) {
      const page = scanPage(this.index.objects, {prefix: start, after, limit: FOREACH_BATCH, match})
      for (const {value} of page.entries) {
        await fn(value)
        n++
      }
      if (page.next === undefined) break
      after = page.next
      await yieldToLoop()
    }
    return n
  }

  // ---- orphan body files ----------------------------------------------------------------------

  /** Start an orphan sweep in the background unless one runs. Resolves when it ended (for tests and close). */
  startOrphanSweep(): Promise<unknown> {
    if (this.closed) return Promise.resolve()
    this.orphanSweeping ??= this.background
      .run('storage.orphan-sweep', () => this.sweepOrphans())
      .finally(() => {
        this.orphanSweeping = undefined
      })
    return this.orphanSweeping
  }

  private async sweepOrphans(): Promise<void> {
    const began = Date.now()
    // Files changed since just before open() may belong to fills of this daemon, between rename and commit.
    const olderThan = Math.max(this.openedAt - (this.opts.orphanSlackMs ?? 0), began - ORPHAN_MIN_AGE_MS)
    const r = await sweepOrphans({
      objectsDir: this.files.objectsDir,
      isReferenced: (file) => this.closedIndex || this.installing.has(file) || this.index.files.get(file) !== undefined,
      olderThan,
      shouldStop: () => this.closed,
    })
    const fields = {files: r.files, bytes: r.bytes, scanned: r.scanned, durationMs: Date.now() - began, ...(r.stopped ? {stopped: true} : {})}
    if (r.files > 0) this.opts.log?.info(fields, 'storage: reclaimed orphan body files')
  }

  // ---- background maintenance -----------------------------------------------------------------

  private maybeScheduleEviction(): void {
    const max = this.opts.maxDiskBytes
    if (max <= 0 || this.evictionScheduled || this.index.totals.diskBytes <= this.opts.diskHighWatermark * max) return
    this.evictionScheduled = true
    setImmediate(() => {
      this.evictionScheduled = false
      void this.background.run('storage.eviction', () => this.maintain(false))
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
      const page = scanPage(this.index.partials, {prefix: '', after: this.partialGcCursor, limit: GC_SLICE})
      let removed = 0
      for (const {key, value} of page.entries) {
        if (isPartialGarbage(value, now, grace)) {
          this.index.removePartialInTxn(key, value, deadFiles)
          removed++
        }
      }
      this.index.totals.expiredRemoved += removed
      return {next: page.next}
    })
    this.partialGcCursor = pc.next
  }

  private partialGcCursor: string | undefined

  // ---- shutdown -------------------------------------------------------------------------------

  /** Flush batched touches and counters, wait for in-flight commits and purges, close LMDB. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.touchTimer)
    clearInterval(this.maintenanceTimer)
    clearInterval(this.lockTimer)
    clearInterval(this.orphanTimer)
    const unfinished = [...this.openFills]
    for (const w of unfinished) w.abort(new Error('storage closed'))
    await Promise.all(unfinished.map((w) => w.settled))
    while (this.inflight.size > 0 || this.maintenanceRunning || this.orphanSweeping) {
      await Promise.allSettled([...this.inflight, this.maintenanceRunning, this.orphanSweeping])
    }
    await this.flushTouches()
    await this.index.transaction(() => this.index.persistTotalsInTxn())
    this.closedIndex = true
    try {
      await this.index.close()
    } finally {
      this.lock?.release()
    }
  }
}
