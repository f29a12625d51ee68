/**
 * The persisted hot set: the keys asked for most, with a decaying score, in its own small LMDB database (`hot`,
 * one entry per key: cache key → score) next to the index, so a restart knows what to warm and `purge --rewarm`
 * knows what was hot under a prefix. Written in one transaction per save (every `warm.saveInterval` and at shutdown);
 * never on the request path.
 */
import type {Database} from 'lmdb'

import {scanAll} from './scan.js'

export interface HotEntry {
  key: string
  /** Requests per minute, decayed: each save halves what the key had and adds its requests of the last minute. */
  score: number
}

/** Scores below this are forgotten (a key that stopped being asked for fades out after a few saves). */
const MIN_SCORE = 0.5

export class HotSet {
  private entries: HotEntry[] | undefined
  private opened: Database<number, string> | undefined

  /** `open` is called on first use: processes that never warm (CLI tools opening the store) create nothing. */
  constructor(private readonly open: () => Database<number, string>) {}

  private get db(): Database<number, string> {
    return (this.opened ??= this.open())
  }

  /** The persisted hot set, hottest first (read once; later reads see what this process saved). */
  async load(): Promise<HotEntry[]> {
    if (this.entries === undefined) {
      const out: HotEntry[] = []
      // Bounded by warm.hotSetSize (at most 100,000 small entries): one synchronous paged scan at start.
      for (const {key, value} of scanAll(this.db, {prefix: '', limit: 10_000})) if (typeof value === 'number') out.push({key, score: value})
      out.sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : 1))
      this.entries = out
    }
    return this.entries
  }

  /**
   * Fold the last minute's hottest keys into the set (old scores halved), keep the `size` hottest and write them.
   * Returns the new set.
   */
  async save(recent: ReadonlyArray<{key: string; requests: number}>, size: number): Promise<HotEntry[]> {
    const old = await this.load()
    const scores = new Map<string, number>()
    for (const e of old) scores.set(e.key, e.score / 2)
    for (const r of recent) scores.set(r.key, (scores.get(r.key) ?? 0) + r.requests)
    const next = [...scores]
      .filter(([, s]) => s >= MIN_SCORE)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, size)
      .map(([key, score]) => ({key, score}))
    await this.db.transaction(() => {
      for (const e of old) if (!next.some((n) => n.key === e.key)) void this.db.remove(e.key)
      for (const e of next) void this.db.put(e.key, e.score)
    })
    this.entries = next
    return next
  }

  /** The `n` hottest persisted keys, optionally only those under a key prefix. */
  async top(n: number, prefix?: string): Promise<HotEntry[]> {
    const all = await this.load()
    const out: HotEntry[] = []
    for (const e of all) {
      if (out.length >= n) break
      if (prefix === undefined || e.key.startsWith(prefix)) out.push(e)
    }
    return out
  }
}
