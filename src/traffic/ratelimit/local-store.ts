import {STEPS} from './algorithms.js'
import type {LimiterStore, StoreDecision} from './store.js'
import type {LimitSpec} from './types.js'

export interface LocalStoreOptions {
  /** Most keys kept; beyond that one not used recently is forgotten (its client starts again with a full quota). */
  maxKeys: number
  /** Clock in ms (default Date.now). */
  now?: () => number
}

interface Entry {
  state: readonly number[]
  expiresAt: number
  /** Used since the eviction hand last passed (CLOCK's reference bit). */
  used: boolean
}

/**
 * In-memory limit states of this node, bounded by `maxKeys`. Eviction is CLOCK (second chance), an approximation of
 * least-recently-used that costs nothing on a hit: a decision only sets a flag, where a true LRU re-inserts the entry
 * into the Map every time (measured: ~3× the whole decision). Expired states are dropped first. Synchronous: a local
 * check allocates no promise.
 */
export class LocalLimiterStore implements LimiterStore {
  readonly kind = 'local'
  /** One Map per rule: a request's key (often the very string of its connection's address) is used as is, unjoined. */
  private readonly rules = new Map<string, Map<string, Entry>>()
  private count = 0
  private readonly clock: () => number

  constructor(private readonly opts: LocalStoreOptions) {
    if (!(Number.isInteger(opts.maxKeys) && opts.maxKeys >= 1)) throw new RangeError('maxKeys must be a positive integer')
    this.clock = opts.now ?? Date.now
  }

  /** Keys held, all rules together. */
  get size(): number {
    return this.count
  }

  decide(rule: string, key: string, spec: LimitSpec, cost: number): StoreDecision {
    const now = this.clock()
    let entries = this.rules.get(rule)
    if (entries === undefined) {
      entries = new Map()
      this.rules.set(rule, entries)
    }
    const e = entries.get(key)
    if (e !== undefined) {
      const r = STEPS[spec.algorithm](e.expiresAt > now ? e.state : undefined, now, spec, cost)
      e.state = r.state
      e.expiresAt = now + r.ttlMs
      e.used = true
      return r.decision
    }
    const r = STEPS[spec.algorithm](undefined, now, spec, cost)
    if (this.count >= this.opts.maxKeys) this.evictOne(entries.size > 0 ? entries : this.largest(), now)
    entries.set(key, {state: r.state, expiresAt: now + r.ttlMs, used: false})
    this.count++
    return r.decision
  }

  async close(): Promise<void> {
    this.rules.clear()
    this.count = 0
  }

  private largest(): Map<string, Entry> {
    let best: Map<string, Entry> | undefined
    for (const m of this.rules.values()) if (!best || m.size > best.size) best = m
    return best!
  }

  /**
   * The hand sweeps `entries` (the inserting rule's own keys first, so one rule's flood evicts its own) from the
   * oldest insertion: an expired entry, or one not used since the last pass, goes; a used one gets a second chance
   * (flag cleared, moved behind the hand). Ends within one lap.
   */
  private evictOne(entries: Map<string, Entry>, now: number): void {
    for (let steps = entries.size; steps > 0; steps--) {
      const first = entries.entries().next()
      if (first.done) return
      const [key, e] = first.value
      entries.delete(key)
      if (e.expiresAt <= now || !e.used) {
        this.count--
        return
      }
      e.used = false
      entries.set(key, e)
    }
    // Every entry was used in the lap: the oldest (now first again) goes.
    const oldest = entries.keys().next()
    if (!oldest.done) {
      entries.delete(oldest.value)
      this.count--
    }
  }
}
