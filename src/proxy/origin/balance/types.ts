/**
 * What a balancer sees of one member of an upstream group. Balancers are given the whole list on every pick and
 * keep no view of health themselves: `available` already folds in active health, outlier ejection and the circuit
 * breaker, so one balancer works the same for upstreams, tests and simulations.
 */
export interface MemberState {
  readonly name: string
  /** Relative share of traffic (> 0). */
  readonly weight: number
  /** Used only while no primary member is available. */
  readonly backup: boolean
  /** Healthy, not ejected, and its breaker admits traffic. */
  readonly available: boolean
  /** Requests on their way to or from this member right now. */
  readonly inFlight: number
  /** Latency estimate in ms (see PeakEwma); only p2c-ewma reads it. */
  readonly ewmaMs: number
}

export interface PickRequest {
  /** Consistent hashing: the value that decides the owner (see balanceKey). Others ignore it. */
  readonly hashKey?: string
  /** Members not to choose (already tried by this request, or refused admission). */
  readonly exclude?: ReadonlySet<string>
}

export type BalanceAlgorithm = 'round-robin' | 'random' | 'least-connections' | 'p2c-ewma' | 'consistent-hash'

export interface Balancer {
  readonly algorithm: BalanceAlgorithm
  /** One member to send the request to, or undefined when no member (primary, then backup) is available. */
  pick<M extends MemberState>(members: readonly M[], req?: PickRequest): M | undefined
}

/** Random source in [0, 1): Math.random by default, a seeded one in simulations. */
export type RandomSource = () => number

/**
 * The members a pick may choose from: available primaries not excluded, or, when there are none, available backups
 * not excluded (nginx `backup`, HAProxy `backup`).
 */
export function candidates<M extends MemberState>(members: readonly M[], exclude?: ReadonlySet<string>): M[] {
  const primaries: M[] = []
  let backups: M[] | undefined
  for (const m of members) {
    if (!m.available || (exclude !== undefined && exclude.has(m.name))) continue
    if (!m.backup) primaries.push(m)
    else (backups ??= []).push(m)
  }
  return primaries.length > 0 ? primaries : (backups ?? primaries)
}
