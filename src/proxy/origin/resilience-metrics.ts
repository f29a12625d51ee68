/**
 * Prometheus metrics of upstream resilience and rate limiting, read from the modules' snapshots at scrape time (the
 * request path only counts, in the modules themselves). Register on the daemon's registry with the sources it has:
 *
 *   tavern_upstream_health{group,upstream}          1 available (healthy, not ejected, breaker not open), else 0
 *   tavern_upstream_breaker_state{group,upstream}   0 closed, 1 open, 2 half-open, 3 ramp-up
 *   tavern_upstream_in_flight{group,upstream}
 *   tavern_upstream_latency_ewma_seconds{group,upstream}
 *   tavern_upstream_ejections_total{group,upstream}
 *   tavern_upstream_retries_total{group}
 *   tavern_upstream_retries_refused_total{group}    retries the budget refused
 *   tavern_ratelimit_decisions_total{action}        allow | reject | delay | drop
 *   tavern_ratelimit_rule_decisions_total{rule,action}   reject | delay | drop, by the rule that decided
 */
import {Counter, Gauge, type Registry} from 'prom-client'

import type {DecisionCounts} from '../../traffic/ratelimit/limiter.js'
import type {BreakerState} from './breaker.js'
import type {GroupResilience} from './group-resilience.js'

export interface ResilienceMetricsSource {
  /** Upstream groups by name (the default group is "default"). */
  groups(): ReadonlyArray<{name: string; group: Pick<GroupResilience, 'snapshot'>}>
  rateLimitDecisions?(): Readonly<DecisionCounts>
  /** Decisions other than allow, by the rule that made them. */
  rateLimitRules?(): ReadonlyMap<string, Readonly<DecisionCounts>>
}

const BREAKER_VALUE: Record<BreakerState, number> = {closed: 0, open: 1, 'half-open': 2, 'ramp-up': 3}

export function registerResilienceMetrics(registry: Registry, source: ResilienceMetricsSource): void {
  const registers = [registry]
  const snaps = () => source.groups().map(({name, group}) => ({name, snap: group.snapshot()}))
  const perMember = (name: string, help: string, value: (m: ReturnType<GroupResilience['snapshot']>['members'][number]) => number, kind: 'gauge' | 'counter' = 'gauge') => {
    const Cls = kind === 'gauge' ? Gauge : Counter
    new Cls({
      name,
      help,
      labelNames: ['group', 'upstream'] as const,
      registers,
      collect(this: Gauge<'group' | 'upstream'> | Counter<'group' | 'upstream'>) {
        this.reset()
        for (const g of snaps()) {
          for (const m of g.snap.members) {
            const labels = {group: g.name, upstream: m.name}
            if (this instanceof Gauge) this.set(labels, value(m))
            else this.inc(labels, value(m))
          }
        }
      },
    })
  }
  perMember('tavern_upstream_health', 'Upstream available for traffic (healthy, not ejected, breaker admitting): 1, else 0', (m) => (m.available ? 1 : 0))
  perMember('tavern_upstream_breaker_state', 'Circuit breaker state: 0 closed, 1 open, 2 half-open, 3 ramp-up', (m) => (m.breaker ? BREAKER_VALUE[m.breaker.state] : 0))
  perMember('tavern_upstream_in_flight', 'Requests in flight to the upstream', (m) => m.inFlight)
  perMember('tavern_upstream_latency_ewma_seconds', 'Peak EWMA of the upstream latency', (m) => m.ewmaMs / 1000)
  perMember('tavern_upstream_ejections_total', 'Times passive outlier detection ejected the upstream', (m) => m.ejections, 'counter')
  new Counter({
    name: 'tavern_upstream_retries_total',
    help: 'Retries of origin requests on another upstream',
    labelNames: ['group'] as const,
    registers,
    collect() {
      this.reset()
      for (const g of snaps()) this.inc({group: g.name}, g.snap.retries)
    },
  })
  new Counter({
    name: 'tavern_upstream_retries_refused_total',
    help: 'Retries the retry budget refused',
    labelNames: ['group'] as const,
    registers,
    collect() {
      this.reset()
      for (const g of snaps()) this.inc({group: g.name}, g.snap.budget.refused)
    },
  })
  if (source.rateLimitDecisions) {
    const read = source.rateLimitDecisions
    new Counter({
      name: 'tavern_ratelimit_decisions_total',
      help: 'Rate-limit decisions by action',
      labelNames: ['action'] as const,
      registers,
      collect() {
        this.reset()
        for (const [action, n] of Object.entries(read())) this.inc({action}, n)
      },
    })
  }
  if (source.rateLimitRules) {
    const read = source.rateLimitRules
    new Counter({
      name: 'tavern_ratelimit_rule_decisions_total',
      help: 'Rate-limit refusals, delays and drops by the rule that decided',
      labelNames: ['rule', 'action'] as const,
      registers,
      collect() {
        this.reset()
        for (const [rule, counts] of read()) for (const [action, n] of Object.entries(counts)) if (action !== 'allow' && n > 0) this.inc({rule, action}, n)
      },
    })
  }
}
