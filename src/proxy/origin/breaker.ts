/**
 * Circuit breaker for one upstream (ProxFlow's "intelligent" breaker: closed → open → half-open → ramp-up → closed).
 *
 * - closed: every request is admitted; outcomes go into a rolling window. With at least `minRequests` in the window,
 *   a failure rate ≥ `failureThreshold`, or a share ≥ `slowRateThreshold` of requests slower than
 *   `latencyThresholdMs` (by default: the median is slower), opens the breaker.
 * - open: nothing is admitted for `recoveryTimeoutMs`, then half-open.
 * - half-open: at most `halfOpenMaxRequests` probes are admitted; one failed (or slow) probe re-opens it, all of them
 *   succeeding starts the ramp-up.
 * - ramp-up: the member's share of the traffic offered to it rises linearly from 0 to all of it over `rampUpMs`
 *   (a deterministic quota: admitted/offered follows the line), so a recovered upstream is not hit by its full share
 *   at once; the window trips it open again as in closed. Then closed.
 *
 * Time only moves when the breaker is asked (no timers): state changes happen, and are reported, on the next call.
 * A result whose request started before the current half-open phase (a straggler from before the breaker opened) is
 * counted in the window but not as a probe.
 */
import {RollingWindow} from './rolling-window.js'

export type BreakerState = 'closed' | 'open' | 'half-open' | 'ramp-up'

/** `cancelled`: the request ended without an answer about the upstream (the client went away): only frees a probe. */
export type BreakerOutcome = 'success' | 'failure' | 'cancelled'

export interface BreakerOptions {
  /** Rolling window the rates are taken over (ms). */
  windowMs: number
  /** Time slots of the window (default 10). */
  buckets?: number
  /** Failure share (0–1] over the window that opens the breaker. */
  failureThreshold: number
  /** Fewest requests in the window before any rate is judged. */
  minRequests: number
  /** A request slower than this (ms) counts as slow; 0 turns the latency trigger off. */
  latencyThresholdMs: number
  /** Share (0–1] of slow requests over the window that opens the breaker (0.5: the median is too slow). */
  slowRateThreshold: number
  /** How long the breaker stays open before probing (ms). */
  recoveryTimeoutMs: number
  /** Probes admitted while half-open; all must succeed to close. */
  halfOpenMaxRequests: number
  /** Length of the linear ramp-up after recovery (ms); 0 closes at once. */
  rampUpMs: number
  /** Clock in ms (default Date.now); tests drive it. */
  now?: () => number
  onStateChange?: (change: BreakerChange) => void
}

export interface BreakerChange {
  from: BreakerState
  to: BreakerState
  at: number
  /** Why, for the log line: "failure rate 62% ≥ 50% over 40 requests", "probe failed", … */
  reason: string
}

export interface BreakerSnapshot {
  state: BreakerState
  /** When the current state was entered (clock ms). */
  since: number
  requests: number
  failureRate: number
  slowRate: number
  /** ramp-up: the share of offered traffic admitted now (0–1); 1 in closed, 0 in open. */
  share: number
  /** Times the breaker opened. */
  opened: number
}

export class CircuitBreaker {
  private readonly window: RollingWindow
  private readonly clock: () => number
  private current: BreakerState = 'closed'
  private since: number
  private probesAdmitted = 0
  private probesSucceeded = 0
  private credit = 0
  private openedCount = 0

  constructor(private readonly opts: BreakerOptions) {
    for (const k of ['failureThreshold', 'slowRateThreshold'] as const) {
      if (!(opts[k] > 0 && opts[k] <= 1)) throw new RangeError(`${k} must be in (0, 1], got ${opts[k]}`)
    }
    if (!(Number.isInteger(opts.halfOpenMaxRequests) && opts.halfOpenMaxRequests >= 1)) throw new RangeError('halfOpenMaxRequests must be a positive integer')
    if (!(opts.minRequests >= 1)) throw new RangeError('minRequests must be >= 1')
    this.clock = opts.now ?? Date.now
    this.window = new RollingWindow(opts.windowMs, opts.buckets ?? 10)
    this.since = this.clock()
  }

  get state(): BreakerState {
    this.tick(this.clock())
    return this.current
  }

  /** Would a request be admitted now? No side effects beyond time-driven state changes (for `available`). */
  canAdmit(): boolean {
    this.tick(this.clock())
    if (this.current === 'open') return false
    if (this.current === 'half-open') return this.probesAdmitted < this.opts.halfOpenMaxRequests
    return true
  }

  /**
   * Admit one request (call it for the member actually chosen; false → choose another). Half-open: takes a probe
   * slot. Ramp-up: admits the current share of what is offered.
   */
  admit(): boolean {
    const now = this.clock()
    this.tick(now)
    switch (this.current) {
      case 'closed':
        return true
      case 'open':
        return false
      case 'half-open':
        if (this.probesAdmitted >= this.opts.halfOpenMaxRequests) return false
        this.probesAdmitted++
        return true
      case 'ramp-up':
        this.credit += this.share(now)
        if (this.credit < 1) return false
        this.credit -= 1
        return true
    }
  }

  /** The outcome of an admitted request and how long it took (ms, from sending it to its answer or failure). */
  record(outcome: BreakerOutcome, latencyMs: number): void {
    const now = this.clock()
    this.tick(now)
    const startedAt = now - Math.max(0, latencyMs)
    if (this.current === 'half-open' && this.probesAdmitted > this.probesSucceeded && startedAt >= this.since) {
      if (outcome === 'cancelled') {
        this.probesAdmitted = Math.max(0, this.probesAdmitted - 1)
        return
      }
      if (outcome === 'failure' || this.isSlow(latencyMs)) {
        this.transition('open', now, outcome === 'failure' ? 'probe failed' : `probe took ${Math.round(latencyMs)} ms > ${this.opts.latencyThresholdMs} ms`)
        return
      }
      if (++this.probesSucceeded >= this.opts.halfOpenMaxRequests) {
        if (this.opts.rampUpMs > 0) this.transition('ramp-up', now, `${this.probesSucceeded} probe(s) succeeded`)
        else this.transition('closed', now, `${this.probesSucceeded} probe(s) succeeded`)
      }
      return
    }
    if (outcome === 'cancelled') return
    this.window.record(now, outcome === 'failure', this.isSlow(latencyMs))
    if (this.current === 'closed' || this.current === 'ramp-up') this.judge(now)
  }

  snapshot(): BreakerSnapshot {
    const now = this.clock()
    this.tick(now)
    const c = this.window.counts(now)
    return {
      state: this.current,
      since: this.since,
      requests: c.total,
      failureRate: c.total ? c.failures / c.total : 0,
      slowRate: c.total ? c.slow / c.total : 0,
      share: this.current === 'closed' ? 1 : this.current === 'ramp-up' ? this.share(now) : 0,
      opened: this.openedCount,
    }
  }

  private isSlow(latencyMs: number): boolean {
    return this.opts.latencyThresholdMs > 0 && latencyMs > this.opts.latencyThresholdMs
  }

  private share(now: number): number {
    return Math.min(1, Math.max(0, (now - this.since) / this.opts.rampUpMs))
  }

  private judge(now: number): void {
    const c = this.window.counts(now)
    if (c.total < this.opts.minRequests) return
    const failureRate = c.failures / c.total
    if (failureRate >= this.opts.failureThreshold) {
      this.transition('open', now, `failure rate ${pct(failureRate)} ≥ ${pct(this.opts.failureThreshold)} over ${c.total} requests`)
      return
    }
    const slowRate = c.slow / c.total
    if (this.opts.latencyThresholdMs > 0 && slowRate >= this.opts.slowRateThreshold) {
      this.transition('open', now, `${pct(slowRate)} of ${c.total} requests slower than ${this.opts.latencyThresholdMs} ms (threshold ${pct(this.opts.slowRateThreshold)})`)
    }
  }

  /** Time-driven changes: open → half-open after the recovery timeout, ramp-up → closed at its end. */
  private tick(now: number): void {
    if (this.current === 'open' && now - this.since >= this.opts.recoveryTimeoutMs) {
      this.transition('half-open', this.since + this.opts.recoveryTimeoutMs, `open for ${this.opts.recoveryTimeoutMs} ms`)
    }
    if (this.current === 'ramp-up' && now - this.since >= this.opts.rampUpMs) {
      this.transition('closed', this.since + this.opts.rampUpMs, `ramp-up of ${this.opts.rampUpMs} ms done`)
    }
  }

  private transition(to: BreakerState, at: number, reason: string): void {
    const from = this.current
    this.current = to
    this.since = at
    this.probesAdmitted = 0
    this.probesSucceeded = 0
    // The first request offered in ramp-up goes through; the share then grows from 0.
    this.credit = 1
    if (to === 'open') this.openedCount++
    // A fresh start: what happened before the breaker opened must not trip it again right away.
    if (to === 'half-open' || to === 'ramp-up' || (to === 'closed' && from !== 'ramp-up')) this.window.reset()
    this.opts.onStateChange?.({from, to, at, reason})
  }
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10}%`
}
