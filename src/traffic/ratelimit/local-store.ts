import {STEPS} from './algorithms.js'
import type {LimiterStore, StoreDecision} from './store.js'
import type {LimitSpec} from './types.js'

export interface LocalStoreOptions {
  /** Most keys kept; the least recently used one is forgotten beyond that (its client starts with a full quota). */
  maxKeys: number
  /** Clock in ms (default Date.now). */
  now?: () => number
}

interface Entry {
  state: readonly number[]
  expiresAt: number
}

/**
 * In-memory limit states of this node: a Map in least-recently-used order, bounded by `maxKeys`, entries expiring
 * once their state is the same as none. Synchronous: a local check allocates no promise.
 */
export class LocalLimiterStore implements LimiterStore {
  readonly kind = 'local'
  private readonly entries = new Map<string, Entry>()
  private readonly clock: () => number

  constructor(private readonly opts: LocalStoreOptions) {
    if (!(Number.isInteger(opts.maxKeys) && opts.maxKeys >= 1)) throw new RangeError('maxKeys must be a positive integer')
    this.clock = opts.now ?? Date.now
  }

  get size(): number {
    return this.entries.size
  }

  decide(id: string, spec: LimitSpec, cost: number): StoreDecision {
    const now = this.clock()
    const e = this.entries.get(id)
    const prior = e !== undefined && e.expiresAt > now ? e.state : undefined
    const r = STEPS[spec.algorithm](prior, now, spec, cost)
    if (e !== undefined) this.entries.delete(id) // re-inserted last: most recently used
    this.entries.set(id, {state: r.state, expiresAt: now + r.ttlMs})
    if (this.entries.size > this.opts.maxKeys) this.evict(now)
    return {...r.decision, source: 'local'}
  }

  async close(): Promise<void> {
    this.entries.clear()
  }

  /** Drop expired entries from the old end, then the least recently used one if still over. */
  private evict(now: number): void {
    for (const [id, e] of this.entries) {
      if (this.entries.size <= this.opts.maxKeys) return
      this.entries.delete(id)
      if (e.expiresAt > now) return
    }
  }
}
