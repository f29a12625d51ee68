/**
 * Retries of origin requests: which failures are retried (policy), how long to wait between tries (exponential
 * backoff with full jitter), and a retry budget that keeps retries from multiplying the load on an upstream group
 * that is failing as a whole (Envoy retry budgets, Finagle/Linkerd retry budgets).
 *
 * Safety rules, whatever the configuration says: only idempotent methods (RFC 9110 §9.2.2) whose request body can be
 * sent again (a streamed client body cannot) are retried, and only before anything went to the client — the runner
 * below retries on a failed or retryable answer *head*; a body cut later is never retried. POST and PATCH never are.
 */

/** Failures without an answer: could not connect, no (complete) answer in time, connection reset. */
export type FailureKind = 'connect' | 'timeout' | 'reset'

export interface RetryPolicy {
  /** Tries in all, the first included (1: no retries). */
  attempts: number
  /** Failures without an answer that are retried. */
  onErrors: ReadonlySet<FailureKind>
  /** Answer statuses that are retried (the answer is discarded when a retry is made). */
  onStatuses: ReadonlySet<number>
  /** Methods retried (a subset of the idempotent ones). */
  methods: ReadonlySet<string>
  backoffBaseMs: number
  backoffMaxMs: number
}

/** RFC 9110 §9.2.2. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

export interface RetryableRequest {
  method: string
  /** The request body can be sent again (none, or buffered); a streamed client body cannot. */
  replayable: boolean
}

/** May this request be sent again at all? */
export function mayRetry(policy: RetryPolicy, req: RetryableRequest): boolean {
  const m = req.method.toUpperCase()
  return policy.attempts > 1 && req.replayable && IDEMPOTENT_METHODS.has(m) && policy.methods.has(m)
}

/** Is this failure (an error kind, or an answer's status) one the policy retries? */
export function isRetryableFailure(policy: RetryPolicy, failure: {kind: FailureKind} | {status: number}): boolean {
  return 'kind' in failure ? policy.onErrors.has(failure.kind) : policy.onStatuses.has(failure.status)
}

/** Full jitter (AWS architecture blog): uniform in [0, min(max, base × 2^(retry−1))); `retry` counts from 1. */
export function backoffMs(policy: Pick<RetryPolicy, 'backoffBaseMs' | 'backoffMaxMs'>, retry: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.max(0, retry - 1))
  return Math.floor(random() * cap)
}

export interface RetryBudgetOptions {
  /** Retries in flight may be at most this share of the requests in flight (Envoy budget_percent; 0.2 = 20 %). */
  ratio: number
  /** Retries per second always allowed on top, so a quiet group can still retry (0: none). */
  minPerSecond: number
  now?: () => number
}

export interface RetryBudgetSnapshot {
  requestsInFlight: number
  retriesInFlight: number
  retries: number
  /** Retries the budget refused. */
  refused: number
}

/**
 * The retry budget of one upstream group: a retry is allowed while retries in flight stay below `ratio` × requests in
 * flight, or when the per-second allowance (a token bucket of `minPerSecond`) has a token left.
 */
export class RetryBudget {
  private requests = 0
  private retriesActive = 0
  private retries = 0
  private refused = 0
  private tokens: number
  private refilledAt: number
  private readonly clock: () => number

  constructor(private readonly opts: RetryBudgetOptions) {
    if (!(opts.ratio >= 0 && opts.ratio <= 1)) throw new RangeError('retry budget ratio must be in [0, 1]')
    if (!(opts.minPerSecond >= 0)) throw new RangeError('retry budget minPerSecond must be >= 0')
    this.clock = opts.now ?? Date.now
    this.tokens = opts.minPerSecond
    this.refilledAt = this.clock()
  }

  /** A request to the group began; call the returned function once when it is over. */
  requestStarted(): () => void {
    this.requests++
    let done = false
    return () => {
      if (!done) {
        done = true
        this.requests--
      }
    }
  }

  /** Ask for one retry: a release to call when that try is over, or undefined (no budget: give up now). */
  tryRetry(): (() => void) | undefined {
    let allowed = this.retriesActive < this.opts.ratio * this.requests
    if (!allowed) {
      this.refill()
      if (this.tokens >= 1) {
        this.tokens--
        allowed = true
      }
    }
    if (!allowed) {
      this.refused++
      return undefined
    }
    this.retries++
    this.retriesActive++
    let done = false
    return () => {
      if (!done) {
        done = true
        this.retriesActive--
      }
    }
  }

  snapshot(): RetryBudgetSnapshot {
    return {requestsInFlight: this.requests, retriesInFlight: this.retriesActive, retries: this.retries, refused: this.refused}
  }

  private refill(): void {
    const now = this.clock()
    const dt = Math.max(0, now - this.refilledAt)
    this.refilledAt = now
    this.tokens = Math.min(this.opts.minPerSecond, this.tokens + (dt / 1000) * this.opts.minPerSecond)
  }
}

/** What one try came to: an answer head (maybe one the policy retries), or a failure without an answer. */
export type AttemptResult<T> = {response: T; status: number} | {error: unknown; kind: FailureKind | 'other'}

export interface RetryRunOptions<T> {
  policy: RetryPolicy
  budget?: RetryBudget
  request: RetryableRequest
  /** Ends the waiting between tries (the client went away). */
  signal?: AbortSignal
  random?: () => number
  /** Waits between tries (default: a timer that the signal cancels). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  /** Throw away an answer that is being retried (discard its body). */
  dispose: (response: T) => void
  /** False when no other member is left to try: the last answer/failure stands. */
  canTryAnother?: () => boolean
  /** Called before each retry (metrics: tavern_upstream_retries_total; logs). */
  onRetry?: (info: {retry: number; delayMs: number; reason: string}) => void
}

/**
 * Run `attempt` (try number 1, 2, …: the caller picks a member it has not tried yet) until it gives an answer that is
 * not retried, the policy or the budget says stop, or no member is left. Returns the answer; throws the last error.
 */
export async function runWithRetries<T>(opts: RetryRunOptions<T>, attempt: (n: number) => Promise<AttemptResult<T>>): Promise<T> {
  const doneRequest = opts.budget?.requestStarted()
  const allowed = mayRetry(opts.policy, opts.request)
  let releaseRetry: (() => void) | undefined
  try {
    for (let n = 1; ; n++) {
      let result: AttemptResult<T>
      try {
        result = await attempt(n)
      } finally {
        releaseRetry?.()
        releaseRetry = undefined
      }
      const retryable = 'response' in result ? isRetryableFailure(opts.policy, {status: result.status}) : result.kind !== 'other' && isRetryableFailure(opts.policy, {kind: result.kind})
      const last = !retryable || !allowed || n >= opts.policy.attempts || opts.signal?.aborted === true || (opts.canTryAnother !== undefined && !opts.canTryAnother())
      if (!last) releaseRetry = opts.budget ? opts.budget.tryRetry() : () => {}
      if (last || releaseRetry === undefined) {
        if ('response' in result) return result.response
        throw result.error
      }
      if ('response' in result) opts.dispose(result.response)
      const delayMs = backoffMs(opts.policy, n, opts.random)
      opts.onRetry?.({retry: n, delayMs, reason: 'response' in result ? String(result.status) : result.kind})
      try {
        await (opts.sleep ?? sleep)(delayMs, opts.signal)
      } catch (error) {
        releaseRetry?.()
        throw error
      }
    }
  } finally {
    doneRequest?.()
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 && !signal?.aborted) return Promise.resolve()
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, {once: true})
  })
}
