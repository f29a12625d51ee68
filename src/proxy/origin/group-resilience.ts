/**
 * The resilience of one upstream group, put together: per member an active health state, outlier ejection, a circuit
 * breaker, a latency EWMA and an in-flight count; a balancer over the members that are available (healthy ∧ not
 * ejected ∧ breaker admits); retries on another member within the group's retry budget. It knows members by name
 * only and makes no request itself: the origin interceptor (wired with the seams refactor) calls `execute()` with a
 * function that sends one try to the member it is given.
 *
 * Every state change (health, ejection, breaker) is reported once through `onEvent`, for the log and metrics.
 */
import type {BackgroundRunner} from '../../core/background.js'
import {createBalancer, PeakEwma, type Balancer, type MemberState, type RandomSource} from './balance/index.js'
import {type BreakerChange, CircuitBreaker, type BreakerSnapshot} from './breaker.js'
import {toBreakerOptions, toHealthCheckOptions, toOutlierOptions, toRetryBudgetOptions, toRetryPolicy, type UpstreamResilience} from './config.js'
import {ActiveHealthCheck, type HealthChange} from './health/active-check.js'
import {type OriginResult, type OutlierChange, OutlierDetector} from './health/outlier.js'
import {type AttemptResult, RetryBudget, type RetryBudgetSnapshot, type RetryPolicy, runWithRetries} from './retry.js'

export interface GroupMember {
  name: string
  /** Base URL (for active health checks). */
  url: string
  weight: number
  backup: boolean
}

export type ResilienceEvent =
  | {type: 'health'; change: HealthChange}
  | {type: 'outlier'; change: OutlierChange}
  | {type: 'breaker'; member: string; change: BreakerChange}
  | {type: 'retry'; member: string; retry: number; delayMs: number; reason: string}

export interface GroupResilienceDeps {
  now?: () => number
  random?: RandomSource
  background?: BackgroundRunner
  onEvent?: (e: ResilienceEvent) => void
}

/** How one try ended, from the interceptor's point of view. */
export type TryOutcome = {status: number} | {error: 'connect' | 'timeout' | 'reset'} | {cancelled: true}

/** A member chosen for one try; `finish` exactly once (later calls are ignored). */
export interface Ticket {
  readonly member: string
  finish(outcome: TryOutcome, latencyMs: number): void
}

export interface MemberSnapshot {
  name: string
  weight: number
  backup: boolean
  available: boolean
  healthy: boolean
  ejected: boolean
  ejectedUntil?: number
  ejections: number
  breaker: BreakerSnapshot | undefined
  inFlight: number
  ewmaMs: number
}

interface Member extends GroupMember {
  inFlight: number
  ewma: PeakEwma
  breaker: CircuitBreaker | undefined
}

export class GroupResilience {
  private readonly members: Member[]
  private readonly balancer: Balancer
  private readonly health: ActiveHealthCheck | undefined
  private readonly outlier: OutlierDetector | undefined
  readonly policy: RetryPolicy
  readonly budget: RetryBudget
  private readonly clock: () => number
  private retries = 0
  private readonly cooling = new Map<string, number>()
  private readonly breakerFailOn: ReadonlySet<string | number>

  constructor(
    members: readonly GroupMember[],
    private readonly config: UpstreamResilience,
    private readonly deps: GroupResilienceDeps = {},
  ) {
    this.clock = deps.now ?? Date.now
    this.breakerFailOn = new Set(config.breaker.failOn)
    const emit = deps.onEvent ?? (() => {})
    this.members = members.map((m) => ({
      ...m,
      inFlight: 0,
      ewma: new PeakEwma({decayMs: config.balance.ewmaDecay, initialMs: config.balance.ewmaInitial}),
      breaker: config.breaker.enabled ? new CircuitBreaker({...toBreakerOptions(config.breaker), now: this.clock, onStateChange: (change) => emit({type: 'breaker', member: m.name, change})}) : undefined,
    }))
    this.balancer = createBalancer(config.balance.algorithm, {random: deps.random, vnodes: config.balance.vnodes})
    this.health = config.healthCheck
      ? new ActiveHealthCheck(
          members.map((m) => ({name: m.name, url: m.url})),
          toHealthCheckOptions(config.healthCheck),
          {background: deps.background, onChange: (change) => emit({type: 'health', change})},
        )
      : undefined
    this.outlier = config.outlier.enabled ? new OutlierDetector(members.map((m) => m.name), {...toOutlierOptions(config.outlier), now: this.clock, onChange: (change) => emit({type: 'outlier', change})}) : undefined
    this.policy = toRetryPolicy(config.retry)
    this.budget = new RetryBudget({...toRetryBudgetOptions(config.retry), now: this.clock})
  }

  /** Start the active health checks (if configured). */
  start(): void {
    this.health?.start()
  }

  async stop(): Promise<void> {
    await this.health?.stop()
  }

  /** The balancer's view of the members right now. */
  states(): MemberState[] {
    const now = this.clock()
    return this.members.map((m) => ({
      name: m.name,
      weight: m.weight,
      backup: m.backup,
      available: this.isAvailable(m),
      inFlight: m.inFlight,
      ewmaMs: m.ewma.value(now),
    }))
  }

  /**
   * Choose a member for one try (not one in `exclude`), taking its breaker's admission; undefined when none is
   * available — answer 503 with Retry-After (retryAfterMs) or from grace.
   */
  choose(req: {hashKey?: string; exclude?: ReadonlySet<string>} = {}): Ticket | undefined {
    // Members cooling down after a refused connection are passed over while another one can take the request.
    const now = this.clock()
    let cooling: Set<string> | undefined
    for (const [name, until] of this.cooling) {
      if (until <= now) this.cooling.delete(name)
      else (cooling ??= new Set(req.exclude)).add(name)
    }
    if (cooling) {
      const t = this.pickTicket(cooling, req.hashKey)
      if (t) return t
    }
    return this.pickTicket(req.exclude, req.hashKey)
  }

  /** Pass `member` over until `untilMs` while others can take requests (upstream.failureCooldown after a refused connect). */
  coolDown(member: string, untilMs: number): void {
    this.cooling.set(member, untilMs)
  }

  /** Whether `member` is cooling down now. */
  isCooling(member: string): boolean {
    return (this.cooling.get(member) ?? 0) > this.clock()
  }

  private pickTicket(initial: ReadonlySet<string> | undefined, hashKey: string | undefined): Ticket | undefined {
    let exclude = initial
    for (let i = 0; i <= this.members.length; i++) {
      const picked = this.balancer.pick(this.states(), {hashKey, exclude})
      if (!picked) return undefined
      const m = this.members.find((x) => x.name === picked.name)!
      if (!m.breaker || m.breaker.admit()) return this.ticket(m)
      // Half-open probes taken, or the ramp-up quota said no: try the others.
      const next = new Set(exclude)
      next.add(m.name)
      exclude = next
    }
    return undefined
  }

  /**
   * Send a request through the group: choose a member, `attempt` it, and retry on another member as the policy and
   * the budget allow. `attempt` resolves with the answer head and its status, or with a failure kind; its latency is
   * measured here. Resolves with the final answer; rejects with the last error, or with NoMemberError when no member
   * could be chosen at all.
   */
  async execute<T>(
    req: {method: string; replayable: boolean; hashKey?: string; signal?: AbortSignal},
    attempt: (member: string, n: number) => Promise<AttemptResult<T>>,
    dispose: (response: T) => void,
  ): Promise<T> {
    const tried = new Set<string>()
    return await runWithRetries<T>(
      {
        policy: this.policy,
        budget: this.budget,
        request: req,
        signal: req.signal,
        random: this.deps.random,
        dispose,
        canTryAnother: () => this.states().some((s) => s.available && !tried.has(s.name)),
        onRetry: (info) => {
          this.retries++
          this.deps.onEvent?.({type: 'retry', member: [...tried].at(-1) ?? '', ...info})
        },
      },
      async (n) => {
        const ticket = this.choose({hashKey: req.hashKey, exclude: tried})
        if (!ticket) {
          if (n === 1) throw new NoMemberError(this.retryAfterMs())
          return {error: new NoMemberError(this.retryAfterMs()), kind: 'other'}
        }
        tried.add(ticket.member)
        const started = performance.now()
        let result: AttemptResult<T>
        try {
          result = await attempt(ticket.member, n)
        } catch (error) {
          // attempt() is meant to resolve with failures: a throw is a bug or an abort, and says nothing of the member.
          ticket.finish({cancelled: true}, performance.now() - started)
          throw error
        }
        const took = performance.now() - started
        if ('response' in result) ticket.finish({status: result.status}, took)
        else if (result.kind === 'other') ticket.finish(req.signal?.aborted ? {cancelled: true} : {error: 'reset'}, took)
        else ticket.finish({error: result.kind}, took)
        return result
      },
    )
  }

  /** When some member may be available again (for Retry-After on a 503 when none is). */
  retryAfterMs(): number {
    const now = this.clock()
    let best = Number.POSITIVE_INFINITY
    const ejected = new Map((this.outlier?.snapshot() ?? []).map((s) => [s.name, s]))
    for (const m of this.members) {
      let at = now
      const b = m.breaker?.snapshot()
      if (b?.state === 'open') at = Math.max(at, b.since + this.config.breaker.recoveryTimeout)
      const o = ejected.get(m.name)
      if (o?.ejected && o.until !== undefined) at = Math.max(at, o.until)
      if (this.health && !this.health.isUp(m.name) && this.config.healthCheck) at = Math.max(at, now + this.config.healthCheck.interval * this.config.healthCheck.rise)
      best = Math.min(best, at - now)
    }
    return Number.isFinite(best) ? Math.max(0, best) : 0
  }

  snapshot(): {members: MemberSnapshot[]; budget: RetryBudgetSnapshot; retries: number} {
    const now = this.clock()
    const outliers = new Map((this.outlier?.snapshot() ?? []).map((s) => [s.name, s]))
    return {
      members: this.members.map((m) => {
        const o = outliers.get(m.name)
        return {
          name: m.name,
          weight: m.weight,
          backup: m.backup,
          available: this.isAvailable(m),
          healthy: this.health?.isUp(m.name) ?? true,
          ejected: o?.ejected ?? false,
          ...(o?.until !== undefined ? {ejectedUntil: o.until} : {}),
          ejections: o?.totalEjections ?? 0,
          breaker: m.breaker?.snapshot(),
          inFlight: m.inFlight,
          ewmaMs: m.ewma.value(now),
        }
      }),
      budget: this.budget.snapshot(),
      retries: this.retries,
    }
  }

  private isAvailable(m: Member): boolean {
    if (this.health && !this.health.isUp(m.name)) return false
    if (this.outlier?.isEjected(m.name)) return false
    return m.breaker ? m.breaker.canAdmit() : true
  }

  private ticket(m: Member): Ticket {
    m.inFlight++
    let done = false
    return {
      member: m.name,
      finish: (outcome, latencyMs) => {
        if (done) return
        done = true
        m.inFlight--
        if ('cancelled' in outcome) {
          m.breaker?.record('cancelled', latencyMs)
          return
        }
        m.ewma.observe(latencyMs, this.clock())
        const result: OriginResult = 'status' in outcome ? (outcome.status >= 500 ? '5xx' : 'success') : outcome.error
        this.outlier?.record(m.name, result)
        // An answer whose status is not in breaker.failOn is the member working (the latency trigger still applies).
        m.breaker?.record(this.breakerFailOn.has('status' in outcome ? outcome.status : outcome.error) ? 'failure' : 'success', latencyMs)
      },
    }
  }
}

/** No member of the group is available: 503 with Retry-After (or grace, as the cache policy allows). */
export class NoMemberError extends Error {
  readonly code = 'TAVERN_ERR_NO_UPSTREAM_AVAILABLE'

  constructor(readonly retryAfterMs: number) {
    super('no upstream of the group is available (all unhealthy, ejected or open)')
  }
}
