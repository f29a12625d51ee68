/**
 * Request collapsing: concurrent misses for one object share one origin fetch (RFC 9111 §4 allows reuse of a
 * response while it arrives). The registry of fills in flight by flight key, who may join one, the short memory of
 * objects whose answers were not storable (so requests for them stop queueing behind each other), and the
 * background refreshes in progress.
 */
import type {DataPlaneServices} from '../core/services.js'
import type {RequestContext} from './context.js'
import {Fill, type FillRequest} from './fill.js'

/** How long an object whose response was not storable skips collapsing. */
const PASS_MEMORY_MS = 10_000
const PASS_MEMORY_MAX = 10_000

/** The identity of one variant of one URL while it is fetched: `key NUL variant` ('?' when the variant is unknown). */
export function objectKey(key: string, variant: string | undefined): string {
  return `${key}\u0000${variant ?? '?'}`
}

/** In-flight fills by flight key, so concurrent misses for one object share one origin request. */
export class FillRegistry {
  private readonly fills = new Map<string, Fill>()

  get(flightKey: string): Fill | undefined {
    return this.fills.get(flightKey)
  }

  start(flightKey: string | undefined, req: FillRequest, s: DataPlaneServices): Fill {
    const fill = new Fill(req, s)
    if (flightKey !== undefined) {
      this.fills.set(flightKey, fill)
      const forget = () => {
        if (this.fills.get(flightKey) === fill) this.fills.delete(flightKey)
      }
      // Uncacheable or failed answers stop collapsing at once; streams stay joinable until stored.
      void s.background.run('fill-registry', fill.head.then((h) => (h.kind === 'stream' ? fill.done.then(forget) : forget())).finally(forget))
    }
    return fill
  }

  get size(): number {
    return this.fills.size
  }

  async drain(): Promise<void> {
    await Promise.all([...this.fills.values()].map((f) => f.done))
  }
}

/** Keys recently answered with something not storable: until the mark expires, nobody waits on anybody for them. */
export class PassMemory {
  private readonly until = new Map<string, number>()

  /** Whether this object's answers were recently not storable (an expired mark is dropped). */
  passing(key: string): boolean {
    const until = this.until.get(key)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.until.delete(key)
    return false
  }

  remember(key: string): void {
    const now = Date.now()
    if (this.until.size >= PASS_MEMORY_MAX) for (const [k, until] of this.until) if (until <= now) this.until.delete(k)
    if (this.until.size < PASS_MEMORY_MAX) this.until.set(key, now + PASS_MEMORY_MS)
  }
}

/**
 * Requests that may share one origin response: same object, and nothing that makes the answer personal.
 * `passing` is set when the object's answers were recently not storable: nobody waits on anybody then.
 */
export function flightKey(s: DataPlaneServices, ctx: RequestContext, objectKey: string, passing: boolean): string | undefined {
  if (passing || !s.config.cache.collapse || ctx.flags.authorization) return undefined
  return objectKey
}
