/**
 * Bounds on auto refreshes: how many run at once, and how many start per second per origin (upstream group), so
 * refreshing a hot set never turns into a burst the origin notices.
 */

/** A token bucket: `rate` tokens per second, at most `burst` saved up. */
class Bucket {
  private tokens: number
  private at: number

  constructor(now: number, burst: number) {
    this.tokens = burst
    this.at = now
  }

  take(now: number, rate: number, burst: number): boolean {
    this.tokens = Math.min(burst, this.tokens + ((now - this.at) / 1000) * rate)
    this.at = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

export class RefreshLimiter {
  private running = 0
  private readonly buckets = new WeakMap<object, Bucket>()

  /** A slot for one refresh against `origin`, or false (the caller skips this refresh). Call `release()` after. */
  acquire(origin: object, now: number, limits: {concurrency: number; perOriginRate: number}): boolean {
    if (this.running >= limits.concurrency) return false
    const burst = Math.max(1, limits.perOriginRate)
    let b = this.buckets.get(origin)
    if (!b) this.buckets.set(origin, (b = new Bucket(now, burst)))
    if (!b.take(now, limits.perOriginRate, burst)) return false
    this.running++
    return true
  }

  release(): void {
    if (this.running > 0) this.running--
  }

  get inFlight(): number {
    return this.running
  }
}
