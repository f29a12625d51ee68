import type {PurgeMode} from './types.js'

interface PurgeEntry {
  seq: number
  /** Exact cache key, or a prefix of cache keys. */
  key: string
  prefix: boolean
  mode: PurgeMode
}

/**
 * In-process log of purges, so that a fill that began before a purge cannot resurrect the purged data
 * when it commits. Entries are kept only while a fill that started before them is still live.
 */
export class PurgeLog {
  private seq = 0
  private entries: PurgeEntry[] = []
  /** start sequence → number of live fills that began at it. */
  private live = new Map<number, number>()

  /** Register a fill; returns its start sequence. */
  fillStarted(): number {
    const s = this.seq
    this.live.set(s, (this.live.get(s) ?? 0) + 1)
    return s
  }

  fillEnded(startSeq: number): void {
    const n = this.live.get(startSeq)
    if (n === undefined) return
    if (n <= 1) this.live.delete(startSeq)
    else this.live.set(startSeq, n - 1)
    this.prune()
  }

  record(key: string, prefix: boolean, mode: PurgeMode): number {
    const seq = ++this.seq
    if (this.live.size > 0) this.entries.push({seq, key, prefix, mode})
    return seq
  }

  /** Strongest purge of `cacheKey` recorded after `sinceSeq`: 'delete' wins over 'expire'. */
  check(cacheKey: string, sinceSeq: number): PurgeMode | undefined {
    let found: PurgeMode | undefined
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!
      if (e.seq <= sinceSeq) break
      const hit = e.prefix ? cacheKey.startsWith(e.key) : cacheKey === e.key
      if (!hit) continue
      if (e.mode === 'delete') return 'delete'
      found = 'expire'
    }
    return found
  }

  get size(): number {
    return this.entries.length
  }

  private prune(): void {
    if (this.live.size === 0) {
      this.entries.length = 0
      return
    }
    let min = Infinity
    for (const s of this.live.keys()) if (s < min) min = s
    let drop = 0
    while (drop < this.entries.length && this.entries[drop]!.seq <= min) drop++
    if (drop > 0) this.entries.splice(0, drop)
  }
}
