/**
 * Predictive warming: the hot set (the keys asked for most, from the top-keys sketch) is folded into the persisted
 * set in LMDB every `warm.saveInterval` and at shutdown; after a start `warm.onStart` re-fetches the hottest keys of
 * the last run through our own data plane (as `tavern prefetch` does), `prefetch --hot N` re-fetches the N hottest,
 * and `purge --dir … --rewarm` re-fetches what was hot under the purged prefix.
 */
import type {TavernConfig} from '../../config/schema.js'
import type {HotKeys, OpsServices} from '../../core/services.js'
import type {BackgroundRunner} from '../../core/background.js'
import {parsePrefetch, runPrefetch} from '../../ops/prefetch.js'
import type {PrefetchSummary} from '../../admin/protocol.js'
import type {HotEntry, HotSet} from '../../storage/hot-set.js'
import type {TopKey} from '../../stats/schema.js'

/** Keys of the last minute taken from the sketch at each save (its capacity bounds what it can know). */
const RECENT_KEYS = 256

export class HotSetKeeper implements HotKeys {
  private timer: NodeJS.Timeout | undefined
  private closed = false

  constructor(
    private readonly store: HotSet,
    private readonly stats: {hottest(n: number): TopKey[]},
    private readonly config: () => TavernConfig['warm'],
    private readonly background: BackgroundRunner,
  ) {}

  /** Save every `warm.saveInterval` (re-read each time, so a reload applies). */
  start(): void {
    const tick = () => {
      this.timer = undefined
      if (this.closed) return
      void this.background.run('hot-set save', () => this.save()).finally(() => {
        if (!this.closed) this.timer = setTimeout(tick, this.config().saveInterval).unref()
      })
    }
    this.timer = setTimeout(tick, this.config().saveInterval).unref()
  }

  /** Fold the last minute into the persisted set and write it. */
  save(): Promise<HotEntry[]> {
    const recent = this.stats.hottest(RECENT_KEYS).filter((k) => k.requests > 0)
    return this.store.save(recent, this.config().hotSetSize)
  }

  /** The `n` hottest keys (persisted set with the last minute folded in), optionally under a key prefix. */
  async top(n: number, prefix?: string): Promise<HotEntry[]> {
    await this.save()
    return this.store.top(n, prefix)
  }

  /** What the last run found hot, without folding this run in (for warming at start). */
  persisted(n: number): Promise<HotEntry[]> {
    return this.store.top(n)
  }

  /** Stop the timer and write the set a last time (before storage closes). */
  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    await this.save()
  }
}

/** Nowhere to stream progress lines: warming in the background logs its summary instead. */
const quiet = {aborted: false, write: async () => {}}

/** GET the keys through our own data plane (collapsing, storage, stats apply); resolves with the summary. */
export async function warmKeys(ops: OpsServices, keys: readonly string[], concurrency: number): Promise<PrefetchSummary> {
  if (keys.length === 0) return {type: 'summary', total: 0, ok: 0, stored: 0, fresh: 0, revalidated: 0, failed: 0, bytes: 0}
  const job = parsePrefetch(ops, {urls: [...keys], concurrency})
  return runPrefetch(ops, job, quiet)
}

/** After a start: re-fetch the hottest keys of the last run (`warm.onStart`), in the background. */
export function warmOnStart(ops: OpsServices, keeper: HotSetKeeper, warm: TavernConfig['warm']): void {
  if (warm.onStart <= 0) return
  void ops.background.run('warm on start', async () => {
    const hot = await keeper.persisted(warm.onStart)
    if (hot.length === 0) return
    const s = await warmKeys(
      ops,
      hot.map((e) => e.key),
      warm.concurrency,
    )
    ops.log.info({keys: s.total, stored: s.stored, fresh: s.fresh, revalidated: s.revalidated, failed: s.failed}, 'warmed the hot set of the last run')
  })
}
