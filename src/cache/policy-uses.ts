/**
 * `minUses` (nginx proxy_cache_min_uses): a response is stored only from the Nth request for its object within a
 * window. Counts live in one insertion-ordered map with a hard cap: when full, the oldest entries go first, so a
 * scan of unique URLs costs bounded memory (at worst a key's count restarts, which delays storing, never breaks it).
 */
export const MIN_USES_TRACKED = 100_000

export class UseCounter {
  private readonly counts = new Map<string, {n: number; since: number}>()

  constructor(private readonly cap = MIN_USES_TRACKED) {}

  /**
   * Count one request for `key`; true when it is at least the `min`th within `windowMs` (then it may be stored and
   * the entry is dropped: the stored object answers the next ones).
   */
  use(key: string, min: number, windowMs: number, now = Date.now()): boolean {
    if (min <= 1) return true
    let e = this.counts.get(key)
    if (e && now - e.since > windowMs) {
      this.counts.delete(key)
      e = undefined
    }
    if (!e) {
      if (this.counts.size >= this.cap) {
        // Evict the oldest tenth at once, so a flood does not pay an eviction per request.
        let drop = Math.max(1, Math.floor(this.cap / 10))
        for (const k of this.counts.keys()) {
          this.counts.delete(k)
          if (--drop === 0) break
        }
      }
      e = {n: 0, since: now}
      this.counts.set(key, e)
    }
    e.n++
    if (e.n >= min) {
      this.counts.delete(key)
      return true
    }
    return false
  }

  get size(): number {
    return this.counts.size
  }
}
