/** The four limiting algorithms; each is a pure step over a small numeric state (so Redis can run the same in Lua). */
export type Algorithm = 'token-bucket' | 'leaky-bucket' | 'sliding-window' | 'fixed-window'

export interface LimitSpec {
  algorithm: Algorithm
  /** Requests (cost units) per window: the sustained rate. */
  limit: number
  windowMs: number
  /** Token bucket: bucket size (requests at once). Leaky bucket: queue length beyond the one being served. Windows: unused. */
  burst: number
  /**
   * Buckets only: how long a request may be held back instead of refused (the `delay` action). Token bucket: tokens
   * may be borrowed up to this much refill time. Leaky bucket: the queue wait is bounded by this too. 0: never held.
   */
  maxDelayMs: number
}

export interface LimitDecision {
  allowed: boolean
  /** Cost units still available right after this decision. */
  remaining: number
  /** Refused: when asking again can succeed (ms). 0 when allowed. */
  retryAfterMs: number
  /** When the limit is back to its full quota (ms). */
  resetMs: number
  /** Allowed with a wait: hold the request this long before serving it (ms). */
  delayMs: number
}

/**
 * What a Redis-backed rule does while Redis is unreachable (or slower than its command timeout): `local` decides on
 * this node with the limits × fallbackShare, `open` allows, `closed` refuses.
 */
export type FailMode = 'local' | 'open' | 'closed'

/** Who decided: Redis, this node (local store), or this node standing in for an unreachable Redis (by fail mode). */
export type DecisionSource = 'local' | 'redis' | 'fallback' | 'fail-open' | 'fail-closed'

export interface SourcedDecision extends LimitDecision {
  source: DecisionSource
}

/** A decision object of one fixed shape (the hot path allocates exactly this; no spreads). */
export function decision(allowed: boolean, remaining: number, retryAfterMs: number, resetMs: number, delayMs: number, source: DecisionSource = 'local'): SourcedDecision {
  return {allowed, remaining, retryAfterMs, resetMs, delayMs, source}
}

export interface StepResult {
  state: number[]
  decision: SourcedDecision
  /** How long the state matters; after that it is the same as no state (key expiry). */
  ttlMs: number
}
