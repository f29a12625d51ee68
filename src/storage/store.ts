/**
 * The object store (the facade the rest of Tavern uses): an LMDB index (records, vary, lru, counters, partials,
 * files), one body file per fill under `objects/`, a byte-bounded memory tier for small bodies, batched access
 * tracking and background eviction / GC / orphan reclaim. The parts, one job each:
 *   body-reader.ts   reading bodies (memory tier, file), CRC checks       commit.ts        fills becoming objects; 304 refreshes
 *   access.ts        hits and last access, written in batches              purge-objects.ts purge by key or prefix
 *   partials.ts      partial objects (range requests) in the index          maintenance.ts   eviction, GC, orphan sweep
 *   scan.ts          the one paged key scan                                  state.ts         what they share; the write transaction
 *
 * Records returned by get()/variants() are shared (LMDB read cache): treat them as read-only.
 */
import type {Readable} from 'node:stream'

import {BackgroundRunner} from '../core/background.js'
import type {OpsStore} from '../core/services.js'
import {AccessTracker} from './access.js'
import {BodyFiles} from './body-files.js'
import {BodyReader} from './body-reader.js'
import {Commits} from './commit.js'
import {DirLock, HEARTBEAT_MS} from './dir-lock.js'
import {prefixRange} from './keys.js'
import {HotSet} from './hot-set.js'
import {LmdbIndex} from './lmdb-index.js'
import {Maintenance, ORPHAN_SWEEP_INTERVAL_MS} from './maintenance.js'
import {MemoryTier} from './memory-tier.js'
import {Partials} from './partials.js'
import {Purger} from './purge-objects.js'
import {scanPage} from './scan.js'
import {type StorageOptions, StoreState, yieldToLoop} from './state.js'
import type {FillWriter, NewPartial, ObjectRecord, PartialHeadUpdate, PartialRecord, PurgeMode, PurgeResult, StorageUsage, VaryRecord} from './types.js'

export type {StorageLog, StorageOptions} from './state.js'
export {PURGE_BATCH} from './purge-objects.js'

const FOREACH_BATCH = 500

export class Storage implements OpsStore {
  /** Background work of the store (eviction, GC, cleanup after purges), caught and counted. */
  readonly background: BackgroundRunner
  private readonly st: StoreState
  private readonly bodies: BodyReader
  private readonly access: AccessTracker
  private readonly commits: Commits
  private readonly purger: Purger
  private readonly partials: Partials
  private readonly maintenance: Maintenance
  private readonly timers: NodeJS.Timeout[] = []
  /** The persisted hot set (warming, purge --rewarm). */
  readonly hotSet: HotSet

  private constructor(
    opts: StorageOptions,
    files: BodyFiles,
    index: LmdbIndex,
    memory: MemoryTier,
    private readonly lock: DirLock | undefined,
    openedAt: number,
  ) {
    this.background = opts.background ?? new BackgroundRunner(opts.log)
    this.st = new StoreState(opts, files, index, memory, this.background)
    this.bodies = new BodyReader(this.st)
    this.access = new AccessTracker(this.st)
    this.commits = new Commits(this.st, this.access)
    this.purger = new Purger(this.st)
    this.partials = new Partials(this.st, this.access)
    this.maintenance = new Maintenance(this.st, this.access, openedAt)
    this.hotSet = new HotSet(() => index.hotDb())
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
    s.every(opts.touchFlushIntervalMs ?? 1000, 'storage.flush-touches', () => s.access.flush(false))
    if (opts.evictionIntervalMs > 0) s.every(opts.evictionIntervalMs, 'storage.maintenance', () => s.maintenance.maintain())
    if (lock) {
      s.every(HEARTBEAT_MS, 'storage.lock-heartbeat', () => lock.heartbeat())
      void s.startOrphanSweep()
      s.timers.push(setInterval(() => void s.startOrphanSweep(), ORPHAN_SWEEP_INTERVAL_MS).unref())
    }
    return s
  }

  private every(ms: number, name: string, fn: () => unknown): void {
    this.timers.push(setInterval(() => void this.background.run(name, fn), ms).unref())
  }

  // ---- lookups (sync, hot path) ---------------------------------------------------------------

  getVary(cacheKey: string): VaryRecord | undefined {
    return this.st.index.getVary(cacheKey)
  }

  get(cacheKey: string, variant: string): ObjectRecord | undefined {
    return this.st.index.getObject(cacheKey, variant)
  }

  variants(cacheKey: string): ObjectRecord[] {
    return this.st.index.variantEntries(cacheKey).map((e) => e.value)
  }

  memoryBody(rec: ObjectRecord): Buffer | undefined {
    return this.st.memory.get(rec.file)
  }

  bodyPath(rec: ObjectRecord): string {
    return this.st.files.pathOf(rec.file)
  }

  usage(): StorageUsage {
    const t = this.st.index.totals
    const m = this.st.memory
    return {
      objects: t.objects,
      diskBytes: t.diskBytes,
      memoryBytes: m.bytes,
      memoryObjects: m.count,
      evictions: t.evictions,
      expiredRemoved: t.expiredRemoved,
      partials: t.partials,
    }
  }

  // ---- bodies ---------------------------------------------------------------------------------

  /** Stream the body (or the inclusive byte range): memory tier if present, else the file. */
  readBody(rec: ObjectRecord, start = 0, endInclusive?: number): Readable {
    return this.bodies.read(rec, start, endInclusive)
  }

  /** Re-read the body file and compare its CRC32C and size with the record. */
  verifyBody(rec: ObjectRecord): Promise<{ok: boolean; actualCrc32c: number; actualSize: number}> {
    return this.bodies.verify(rec)
  }

  // ---- fills and revalidation -----------------------------------------------------------------

  beginFill(cacheKey: string, variant: string): FillWriter {
    return this.commits.beginFill(cacheKey, variant)
  }

  refresh(cacheKey: string, variant: string, update: Pick<ObjectRecord, 'headers' | 'requestTime' | 'responseTime' | 'policy'> & {status?: number}): Promise<ObjectRecord | undefined> {
    return this.commits.refresh(cacheKey, variant, update)
  }

  // ---- access tracking ------------------------------------------------------------------------

  /** Count a hit; written to the index in batches (touchFlushIntervalMs), never one write per hit. */
  touch(rec: ObjectRecord): void {
    this.access.touch(rec)
  }

  /** Hits and last access of a record including touches not written yet (for inspect). */
  accessInfo(rec: ObjectRecord): {hits: number; lastAccess: number} {
    return this.access.accessInfo(rec)
  }

  /** Write batched touches now (`all` false: only those the periodic flush would write). */
  flushTouches(all = true): Promise<void> {
    return this.access.flush(all)
  }

  // ---- purge ----------------------------------------------------------------------------------

  /** Purge every variant of one URL (and its VaryRecord in delete mode). */
  purgeKey(cacheKey: string, mode: PurgeMode): Promise<PurgeResult> {
    return this.purger.key(cacheKey, mode)
  }

  /** Purge every URL starting with `prefix`, in pages (see purge-objects.ts). */
  purgePrefix(prefix: string, mode: PurgeMode, onProgress?: (r: PurgeResult) => void): Promise<PurgeResult> {
    return this.purger.prefix(prefix, mode, onProgress)
  }

  // ---- partial objects (range fills) ----------------------------------------------------------

  getPartial(cacheKey: string, variant: string): PartialRecord | undefined {
    return this.partials.get(cacheKey, variant)
  }

  partialPath(file: string): string {
    return this.partials.path(file)
  }

  newPartialFile(cacheKey: string, variant: string): Promise<{file: string; path: string}> {
    return this.partials.newFile(cacheKey, variant)
  }

  beginPartialFill(): number {
    return this.partials.beginFill()
  }

  endPartialFill(seq: number): void {
    this.partials.endFill(seq)
  }

  createPartial(p: NewPartial, seq: number): Promise<PartialRecord | null> {
    return this.partials.create(p, seq)
  }

  markPartial(cacheKey: string, variant: string, file: string, slices: readonly number[], head?: PartialHeadUpdate): Promise<boolean> {
    return this.partials.mark(cacheKey, variant, file, slices, head)
  }

  removePartial(cacheKey: string, variant: string, file?: string): Promise<void> {
    return this.partials.remove(cacheKey, variant, file)
  }

  promotePartial(cacheKey: string, variant: string, file: string, crc: number): Promise<ObjectRecord | null> {
    return this.partials.promote(cacheKey, variant, file, crc)
  }

  // ---- tools ----------------------------------------------------------------------------------

  /** Call `fn` for every record whose cache key starts with `prefix` (in key order, batched). Returns the count. */
  async forEach(prefix: string, fn: (rec: ObjectRecord) => void | Promise<void>): Promise<number> {
    const {start, exact} = prefixRange(prefix)
    const match = exact ? undefined : (r: ObjectRecord) => r.key.startsWith(prefix)
    let after: string | undefined
    let n = 0
    while (!this.st.closedIndex) {
      const page = scanPage(this.st.index.objects, {prefix: start, after, limit: FOREACH_BATCH, match})
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

  // ---- maintenance ----------------------------------------------------------------------------

  /** Start an orphan sweep in the background unless one runs. Resolves when it ended (for tests and close). */
  startOrphanSweep(): Promise<unknown> {
    return this.maintenance.startOrphanSweep()
  }

  /** One maintenance round: evict down to the low watermark if above the high one, then a GC slice. */
  maintain(gc = true): Promise<void> {
    return this.maintenance.maintain(gc)
  }

  // ---- shutdown -------------------------------------------------------------------------------

  /** Flush batched touches and counters, wait for in-flight commits and purges, close LMDB. */
  async close(): Promise<void> {
    const {st} = this
    if (st.closed) return
    st.closed = true
    for (const t of this.timers) clearInterval(t)
    await this.commits.abortOpenFills()
    await st.settled(() => this.maintenance.pending)
    await this.access.flush()
    await st.index.transaction(() => st.index.persistTotalsInTxn())
    st.closedIndex = true
    try {
      await st.index.close()
    } finally {
      this.lock?.release()
    }
  }
}
