/**
 * Peak-sensitive EWMA of latency (Finagle / tower "peak EWMA"): a sample above the estimate replaces it at once (a
 * member that turns slow is avoided on the next pick), a sample below pulls it down with weight 1 − e^(−Δt/τ). Between
 * samples the estimate relaxes towards `initialMs`, so a member that was slow once and then left idle is tried again
 * after a few τ instead of being starved forever.
 */
export interface PeakEwmaOptions {
  /** Decay time constant τ in ms (default 10 s). */
  decayMs?: number
  /** Estimate before the first sample, and the value an idle estimate relaxes towards (default 50 ms). */
  initialMs?: number
}

export class PeakEwma {
  private estimate: number
  private at = Number.NEGATIVE_INFINITY
  readonly decayMs: number
  readonly initialMs: number

  constructor(opts: PeakEwmaOptions = {}) {
    this.decayMs = opts.decayMs ?? 10_000
    this.initialMs = opts.initialMs ?? 50
    if (!(this.decayMs > 0)) throw new RangeError('decayMs must be > 0')
    if (!(this.initialMs >= 0)) throw new RangeError('initialMs must be >= 0')
    this.estimate = this.initialMs
  }

  /** Record one request's latency, finished at `now` (ms, any monotonic clock). */
  observe(latencyMs: number, now: number): void {
    if (!(latencyMs >= 0)) return
    const current = this.value(now)
    if (latencyMs > current) this.estimate = latencyMs
    else {
      const w = this.at === Number.NEGATIVE_INFINITY ? 0 : Math.exp(-(now - this.at) / this.decayMs)
      this.estimate = current * w + latencyMs * (1 - w)
    }
    this.at = now
  }

  /** The estimate at `now`. */
  value(now: number): number {
    if (this.at === Number.NEGATIVE_INFINITY) return this.estimate
    const dt = now - this.at
    if (dt <= 0) return this.estimate
    return this.initialMs + (this.estimate - this.initialMs) * Math.exp(-dt / this.decayMs)
  }
}
