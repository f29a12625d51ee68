/**
 * Outcome counts over the last `windowMs`, kept in `buckets` time slots: recording is O(1), and the counts slide a
 * bucket at a time (a bucket's counts leave the window all at once, `windowMs / buckets` after they came in).
 */
export interface WindowCounts {
  total: number
  failures: number
  slow: number
}

export class RollingWindow {
  private readonly bucketMs: number
  private readonly epochs: number[]
  private readonly totals: number[]
  private readonly failures: number[]
  private readonly slows: number[]
  private last = Number.NEGATIVE_INFINITY
  private sum: WindowCounts = {total: 0, failures: 0, slow: 0}

  constructor(
    readonly windowMs: number,
    readonly buckets = 10,
  ) {
    if (!(windowMs > 0)) throw new RangeError('windowMs must be > 0')
    if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError('buckets must be a positive integer')
    this.bucketMs = windowMs / buckets
    this.epochs = new Array<number>(buckets).fill(Number.NEGATIVE_INFINITY)
    this.totals = new Array<number>(buckets).fill(0)
    this.failures = new Array<number>(buckets).fill(0)
    this.slows = new Array<number>(buckets).fill(0)
  }

  record(now: number, failed: boolean, slow: boolean): void {
    const epoch = this.advance(now)
    const i = epoch % this.buckets
    this.totals[i]!++
    this.sum.total++
    if (failed) {
      this.failures[i]!++
      this.sum.failures++
    }
    if (slow) {
      this.slows[i]!++
      this.sum.slow++
    }
  }

  counts(now: number): Readonly<WindowCounts> {
    this.advance(now)
    return this.sum
  }

  reset(): void {
    this.epochs.fill(Number.NEGATIVE_INFINITY)
    this.totals.fill(0)
    this.failures.fill(0)
    this.slows.fill(0)
    this.sum = {total: 0, failures: 0, slow: 0}
    this.last = Number.NEGATIVE_INFINITY
  }

  /** Drop the buckets that slid out of the window; returns the current bucket's epoch. */
  private advance(now: number): number {
    const epoch = Math.max(0, Math.floor(now / this.bucketMs))
    // A clock that steps back records into the newest bucket rather than reviving an old one.
    if (epoch <= this.last) return this.last
    const from = this.last === Number.NEGATIVE_INFINITY || epoch - this.last >= this.buckets ? epoch - this.buckets + 1 : this.last + 1
    for (let e = from; e <= epoch; e++) {
      const i = ((e % this.buckets) + this.buckets) % this.buckets
      if (this.epochs[i] !== e) {
        this.sum.total -= this.totals[i]!
        this.sum.failures -= this.failures[i]!
        this.sum.slow -= this.slows[i]!
        this.totals[i] = 0
        this.failures[i] = 0
        this.slows[i] = 0
        this.epochs[i] = e
      }
    }
    this.last = epoch
    return epoch
  }
}
