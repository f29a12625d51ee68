/**
 * Background maintenance of a store: eviction by disk budget (LRU down to the low watermark, then partial objects),
 * a slice of expired-object GC per tick, and the orphan sweep that reclaims body files no record names (after a
 * crash). Everything runs through the store's BackgroundRunner; nothing blocks a request.
 */
import type {AccessTracker} from './access.js'
import {evictBatchInTxn, gcSliceInTxn} from './eviction.js'
import {sweepOrphans} from './orphans.js'
import {evictPartialsInTxn, isPartialGarbage} from './partial-index.js'
import {scanPage} from './scan.js'
import {type StoreState, yieldToLoop} from './state.js'

const EVICT_BATCH = 500
const GC_SLICE = 500
/** After start-up, orphan bodies are looked for again this often, among files unchanged for ORPHAN_MIN_AGE_MS. */
export const ORPHAN_SWEEP_INTERVAL_MS = 24 * 3600_000
const ORPHAN_MIN_AGE_MS = 3600_000

export class Maintenance {
  private running: Promise<void> | undefined
  private evictionScheduled = false
  private gcCursor = ''
  private partialGcCursor: string | undefined
  private orphanSweeping: Promise<unknown> | undefined

  constructor(
    private readonly st: StoreState,
    private readonly access: AccessTracker,
    private readonly openedAt: number,
  ) {
    st.grew = () => this.scheduleEviction()
  }

  /** Work close() must wait for. */
  get pending(): Array<Promise<unknown> | undefined> {
    return [this.running, this.orphanSweeping]
  }

  /** Start an orphan sweep in the background unless one runs. Resolves when it ended (for tests and close). */
  startOrphanSweep(): Promise<unknown> {
    const {st} = this
    if (st.closed) return Promise.resolve()
    this.orphanSweeping ??= st.background
      .run('storage.orphan-sweep', () => this.sweepOrphans())
      .finally(() => {
        this.orphanSweeping = undefined
      })
    return this.orphanSweeping
  }

  private async sweepOrphans(): Promise<void> {
    const {st} = this
    const began = Date.now()
    // Files changed since just before open() may belong to fills of this daemon, between rename and commit.
    const olderThan = Math.max(this.openedAt - (st.opts.orphanSlackMs ?? 0), began - ORPHAN_MIN_AGE_MS)
    const r = await sweepOrphans({
      objectsDir: st.files.objectsDir,
      isReferenced: (file) => st.closedIndex || st.installing.has(file) || st.index.files.get(file) !== undefined,
      olderThan,
      shouldStop: () => st.closed,
    })
    const fields = {files: r.files, bytes: r.bytes, scanned: r.scanned, durationMs: Date.now() - began, ...(r.stopped ? {stopped: true} : {})}
    if (r.files > 0) st.opts.log?.info(fields, 'storage: reclaimed orphan body files')
  }

  /** Evict in the background soon when disk use is above the high watermark (after a commit). */
  scheduleEviction(): void {
    const {st} = this
    const max = st.opts.maxDiskBytes
    if (max <= 0 || this.evictionScheduled || st.index.totals.diskBytes <= st.opts.diskHighWatermark * max) return
    this.evictionScheduled = true
    setImmediate(() => {
      this.evictionScheduled = false
      void st.background.run('storage.eviction', () => this.maintain(false))
    })
  }

  /** One maintenance round: evict down to the low watermark if above the high one, then a GC slice. */
  maintain(gc = true): Promise<void> {
    const {st} = this
    if (this.running || st.closed) return this.running ?? Promise.resolve()
    const p = (async () => {
      try {
        await this.evictIfNeeded()
        if (gc && !st.closed) await this.gcSlice()
      } catch (err) {
        st.opts.log?.error({err}, 'storage: maintenance failed')
      }
    })().finally(() => {
      this.running = undefined
    })
    this.running = p
    return p
  }

  private async evictIfNeeded(): Promise<void> {
    const {st} = this
    const max = st.opts.maxDiskBytes
    if (max <= 0 || st.index.totals.diskBytes <= st.opts.diskHighWatermark * max) return
    await this.access.flush(false)
    const target = st.opts.diskLowWatermark * max
    let total = 0
    while (!st.closed && st.index.totals.diskBytes > target) {
      const {evicted, exhausted} = await st.mutate((dead) => evictBatchInTxn(st.index, target, EVICT_BATCH, dead))
      total += evicted
      if (exhausted && evicted === 0) break
      await yieldToLoop()
    }
    // Partial objects are not in the lru: when evicting complete objects was not enough, they go too.
    while (!st.closed && st.index.totals.diskBytes > target && st.index.totals.partials > 0) {
      const n = await st.mutate((_dead, deadFiles) => evictPartialsInTxn(st.index, target, EVICT_BATCH, deadFiles))
      total += n
      if (n === 0) break
      await yieldToLoop()
    }
    if (total > 0) st.opts.log?.info({evicted: total, diskBytes: st.index.totals.diskBytes}, 'storage: evicted objects')
  }

  private async gcSlice(): Promise<void> {
    const {st} = this
    const now = Date.now()
    const {next} = await st.mutate((dead) => {
      const r = gcSliceInTxn(st.index, this.gcCursor, GC_SLICE, now, st.opts.gcGraceSeconds, dead)
      return {next: r.next, removed: r.removed}
    })
    this.gcCursor = next
    if (st.index.totals.partials === 0 || st.closed) return
    const grace = st.opts.gcGraceSeconds
    const pc = await st.mutate((_dead, deadFiles) => {
      const page = scanPage(st.index.partials, {prefix: '', after: this.partialGcCursor, limit: GC_SLICE})
      let removed = 0
      for (const {key, value} of page.entries) {
        if (isPartialGarbage(value, now, grace)) {
          st.index.removePartialInTxn(key, value, deadFiles)
          removed++
        }
      }
      st.index.totals.expiredRemoved += removed
      return {next: page.next}
    })
    this.partialGcCursor = pc.next
  }
}
