/**
 * Config fragments for one upstream group's resilience (docs/upstreams.md). The lead wires them into
 * src/config/schema.ts: today's single group as top-level keys (`balance`, `healthCheck`, `outlier`, `breaker`,
 * `retry`, `timeouts` under `upstream`), per-group once routes bring groups; `backup` on `upstreams[]` entries.
 * The `to…Options` helpers turn parsed config into the modules' options.
 */
import {z} from 'zod'

import {durationMs, optionalDurationMs} from '../../config/units.js'
import type {HashKeySource} from './balance/consistent-hash.js'
import type {BreakerOptions} from './breaker.js'
import {type HealthCheckOptions, parseStatusRanges} from './health/active-check.js'
import type {OutlierOptions} from './health/outlier.js'
import {type FailureKind, IDEMPOTENT_METHODS, type RetryBudgetOptions, type RetryPolicy} from './retry.js'
import type {OriginTimeouts} from './timeouts.js'

const fieldName = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a header field name')
const share = z.number().min(0).max(1)

/** `upstreams[]` entries gain `backup: true`: used only while no primary member is available. */
export const UpstreamMemberExtras = {backup: z.boolean().default(false)}

export const BalanceConfig = z
  .strictObject({
    algorithm: z.enum(['round-robin', 'random', 'least-connections', 'p2c-ewma', 'consistent-hash']).default('round-robin'),
    /** consistent-hash: what is hashed — `key` (the cache key), `{header: Name}` or `{cookie: name}` (absent → the cache key). */
    hashKey: z.union([z.literal('key'), z.strictObject({header: fieldName}), z.strictObject({cookie: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a cookie name')})]).optional(),
    /** consistent-hash: ring points per unit of weight. */
    vnodes: z.number().int().min(1).max(10_000).optional(),
    /** Latency EWMA time constant (p2c-ewma uses it to balance; status shows it for every algorithm). */
    ewmaDecay: durationMs('10s').refine((ms) => ms > 0, {message: 'ewmaDecay must be > 0'}),
    /** EWMA of a member without samples, and what an idle one relaxes to. */
    ewmaInitial: durationMs('50ms'),
  })
  .prefault({})
  .superRefine((b, ctx) => {
    if (b.algorithm !== 'consistent-hash') {
      if (b.hashKey !== undefined) ctx.addIssue({code: 'custom', path: ['hashKey'], message: `hashKey applies to algorithm consistent-hash only, not ${b.algorithm}`})
      if (b.vnodes !== undefined) ctx.addIssue({code: 'custom', path: ['vnodes'], message: `vnodes applies to algorithm consistent-hash only, not ${b.algorithm}`})
    }
  })
  .transform((b) => ({...b, hashKey: toHashKeySource(b.hashKey), vnodes: b.vnodes ?? 160}))

function toHashKeySource(k: 'key' | {header: string} | {cookie: string} | undefined): HashKeySource {
  if (k === undefined || k === 'key') return {from: 'key'}
  return 'header' in k ? {from: 'header', name: k.header} : {from: 'cookie', name: k.cookie}
}

const statusRanges = z
  .string()
  .default('200-399')
  .transform((v, ctx) => {
    const r = parseStatusRanges(v)
    if (!r) {
      ctx.addIssue({code: 'custom', message: `not a status list: ${JSON.stringify(v)} (use e.g. "200-399" or "200,204")`})
      return z.NEVER
    }
    return r
  })

/** Present = active checks on. */
export const HealthCheckConfig = z
  .strictObject({
    path: z.string().startsWith('/', 'the probe path starts with /').default('/'),
    method: z.enum(['GET', 'HEAD']).default('GET'),
    /** Host header of the probe (default: the member URL's host). */
    host: z.string().min(1).optional(),
    headers: z.record(fieldName, z.string().regex(/^[^\r\n\0]*$/, 'no CR, LF or NUL in a header value')).optional(),
    interval: durationMs('5s').refine((ms) => ms >= 10, {message: 'interval must be at least 10ms'}),
    timeout: durationMs('2s').refine((ms) => ms >= 1, {message: 'timeout must be at least 1ms'}),
    expectStatus: statusRanges,
    rise: z.number().int().min(1).max(100).default(2),
    fall: z.number().int().min(1).max(100).default(3),
    initial: z.enum(['up', 'down']).default('up'),
  })
  .refine((h) => h.timeout <= h.interval, {message: 'timeout must not be longer than interval', path: ['timeout']})

export const OutlierConfig = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** 5xx answers or local errors in a row that eject a member (0: off). */
    consecutive5xx: z.number().int().min(0).max(10_000).default(5),
    /** Connect errors / timeouts / resets in a row that eject a member (0: off). */
    consecutiveLocalErrors: z.number().int().min(0).max(10_000).default(3),
    baseEjection: durationMs('30s').refine((ms) => ms > 0, {message: 'baseEjection must be > 0'}),
    maxEjection: durationMs('5m'),
    /** Largest share of the group ejected at once (at least one member of two or more). */
    maxEjectedShare: share.default(0.5),
  })
  .prefault({})
  .refine((o) => o.maxEjection >= o.baseEjection, {message: 'maxEjection must not be shorter than baseEjection', path: ['maxEjection']})

const failureKind = z.union([z.enum(['connect', 'timeout', 'reset']), z.number().int().min(500).max(599)])

export const BreakerConfig = z
  .strictObject({
    enabled: z.boolean().default(true),
    /**
     * What counts against a member: failures without an answer and the gateway statuses. Not 500 by default: an
     * application error on some URLs says nothing of the member, and opening the only member's breaker over them
     * would turn a few broken pages into 503 for every URL.
     */
    failOn: z.array(failureKind).min(1).default(['connect', 'timeout', 'reset', 502, 503, 504]),
    window: durationMs('10s').refine((ms) => ms >= 10, {message: 'window must be at least 10ms'}),
    failureThreshold: z.number().gt(0).max(1).default(0.5),
    minRequests: z.number().int().min(1).max(1_000_000).default(20),
    /** A request slower than this counts as slow (0: the latency trigger is off). */
    latencyThreshold: durationMs(0),
    /** Share of slow requests that opens the breaker (0.5: the median is slower than latencyThreshold). */
    slowRateThreshold: z.number().gt(0).max(1).default(0.5),
    recoveryTimeout: durationMs('10s').refine((ms) => ms > 0, {message: 'recoveryTimeout must be > 0'}),
    halfOpenMaxRequests: z.number().int().min(1).max(10_000).default(3),
    /** Linear ramp-up of a recovered member's share (0: full share at once). */
    rampUp: durationMs('10s'),
  })
  .prefault({})


export const RetryConfig = z
  .strictObject({
    /** Tries in all, the first included (1: no retries). */
    attempts: z.number().int().min(1).max(10).default(2),
    /** What is retried: failures without an answer and/or answer statuses. */
    on: z.array(failureKind).default(['connect', 'timeout', 'reset', 502, 503, 504]),
    /** Idempotent methods only (RFC 9110 §9.2.2); POST and PATCH are never retried. */
    methods: z
      .array(z.string().transform((m) => m.toUpperCase()))
      .default(['GET', 'HEAD', 'OPTIONS'])
      .superRefine((ms, ctx) => {
        for (const m of ms) if (!IDEMPOTENT_METHODS.has(m)) ctx.addIssue({code: 'custom', message: `${m} is not idempotent and is never retried (allowed: ${[...IDEMPOTENT_METHODS].join(', ')})`})
      }),
    backoffBase: durationMs('25ms'),
    backoffMax: durationMs('250ms'),
    budget: z
      .strictObject({
        /** Retries in flight ≤ this share of requests in flight. */
        ratio: share.default(0.2),
        /** Retries per second allowed on top. */
        minPerSecond: z.number().min(0).max(1_000_000).default(3),
      })
      .prefault({}),
  })
  .prefault({})
  .refine((r) => r.backoffMax >= r.backoffBase, {message: 'backoffMax must not be shorter than backoffBase', path: ['backoffMax']})

/**
 * Per-group timeouts. `connect`, `ttfb` and `bodyIdle` are absent unless set: then the group's older keys
 * (`connectTimeout`, `headersTimeout`, `bodyTimeout`) apply, so one setting never has two defaults.
 */
export const TimeoutsConfig = z
  .strictObject({
    connect: optionalDurationMs(),
    /** Time to the first byte of the answer (its head). */
    ttfb: optionalDurationMs(),
    /** Longest pause between two body chunks. */
    bodyIdle: optionalDurationMs(),
    /** Whole exchange, head and body (0: none). */
    total: durationMs(0),
  })
  .prefault({})

/** Everything one group can set; absent keys get the defaults above (healthCheck absent = no active checks). */
export const UpstreamResilienceConfig = z
  .strictObject({
    balance: BalanceConfig,
    healthCheck: HealthCheckConfig.optional(),
    outlier: OutlierConfig,
    breaker: BreakerConfig,
    retry: RetryConfig,
    timeouts: TimeoutsConfig,
  })
  .prefault({})

export type UpstreamResilience = z.output<typeof UpstreamResilienceConfig>

export function toHealthCheckOptions(h: z.output<typeof HealthCheckConfig>): HealthCheckOptions {
  return {path: h.path, method: h.method, host: h.host, headers: h.headers, intervalMs: h.interval, timeoutMs: h.timeout, expectStatus: h.expectStatus, rise: h.rise, fall: h.fall, initial: h.initial}
}

export function toOutlierOptions(o: z.output<typeof OutlierConfig>): OutlierOptions {
  return {consecutive5xx: o.consecutive5xx, consecutiveLocalErrors: o.consecutiveLocalErrors, baseEjectionMs: o.baseEjection, maxEjectionMs: o.maxEjection, maxEjectedShare: o.maxEjectedShare}
}

export function toBreakerOptions(b: z.output<typeof BreakerConfig>): BreakerOptions {
  return {
    windowMs: b.window,
    failureThreshold: b.failureThreshold,
    minRequests: b.minRequests,
    latencyThresholdMs: b.latencyThreshold,
    slowRateThreshold: b.slowRateThreshold,
    recoveryTimeoutMs: b.recoveryTimeout,
    halfOpenMaxRequests: b.halfOpenMaxRequests,
    rampUpMs: b.rampUp,
  }
}

export function toRetryPolicy(r: z.output<typeof RetryConfig>): RetryPolicy {
  return {
    attempts: r.attempts,
    onErrors: new Set(r.on.filter((x): x is FailureKind => typeof x === 'string')),
    onStatuses: new Set(r.on.filter((x): x is number => typeof x === 'number')),
    methods: new Set(r.methods),
    backoffBaseMs: r.backoffBase,
    backoffMaxMs: r.backoffMax,
  }
}

export function toRetryBudgetOptions(r: z.output<typeof RetryConfig>): RetryBudgetOptions {
  return {ratio: r.budget.ratio, minPerSecond: r.budget.minPerSecond}
}

/** The timeouts in force: `timeouts.*` where set, else the legacy keys' values (`fallback`). */
export function toOriginTimeouts(t: z.output<typeof TimeoutsConfig>, fallback: Omit<OriginTimeouts, 'totalMs'>): OriginTimeouts {
  return {connectMs: t.connect ?? fallback.connectMs, ttfbMs: t.ttfb ?? fallback.ttfbMs, bodyIdleMs: t.bodyIdle ?? fallback.bodyIdleMs, totalMs: t.total}
}
