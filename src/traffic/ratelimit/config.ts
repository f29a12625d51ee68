/**
 * Config fragment: `rateLimits` (README "Rate limits"; docs/rate-limits.md). Wired into src/config/schema.ts by the
 * lead as `rateLimits: RateLimitsConfig`.
 *
 *   rateLimits:
 *     redis: {url: redis://10.0.0.5:6379, failMode: local, fallbackShare: 0.34}
 *     rules:
 *       - {name: per-ip, algorithm: token-bucket, limit: 100, window: 1s, burst: 200, key: [ip]}
 *       - {name: api, algorithm: sliding-window, limit: 1000, window: 1m, key: [{apiKey: {header: X-Api-Key, query: api_key}}], store: redis}
 *       - {name: search, algorithm: leaky-bucket, limit: 20, window: 1s, action: delay, maxDelay: 2s, match: {paths: [/search]}}
 */
import {z} from 'zod'

import {durationMs, optionalDurationMs} from '../../config/units.js'

const fieldName = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a header field name')

/** Goes inside an sf-string in RateLimit-Policy: printable ASCII without `"` and `\`. */
const policyName = z.string().regex(/^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/, 'must be 1–64 printable ASCII characters without " or \\')

const KeyPartSchema = z.union([
  z.literal('ip').transform(() => ({ip: true as const})),
  z.literal('route').transform(() => ({route: true as const})),
  z.strictObject({header: fieldName}),
  z
    .strictObject({apiKey: z.strictObject({header: fieldName.optional(), query: z.string().min(1).optional()})})
    .refine((p) => p.apiKey.header !== undefined || p.apiKey.query !== undefined, {message: 'apiKey needs a header, a query parameter, or both'}),
])

/** What a `store: redis` rule does while Redis is unreachable or slower than commandTimeout. */
const FailModeSchema = z.enum(['local', 'open', 'closed'])

const method = z
  .string()
  .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be an HTTP method token')
  .transform((m) => m.toUpperCase())

export const RateLimitRule = z
  .strictObject({
    /** Names the policy in RateLimit-Policy / RateLimit, logs and metrics; unique. */
    name: policyName,
    algorithm: z.enum(['token-bucket', 'leaky-bucket', 'sliding-window', 'fixed-window']).default('token-bucket'),
    /** Requests per window. */
    limit: z.number().int().min(1).max(1_000_000_000),
    window: durationMs('1s').refine((ms) => ms >= 1, {message: 'window must be at least 1ms'}),
    /** Buckets only: token-bucket size / leaky-bucket queue length (default: limit). */
    burst: z.number().int().min(0).max(1_000_000_000).optional(),
    /** What the limit is counted per; parts are joined (default: the client IP). */
    key: z.array(KeyPartSchema).min(1).default([{ip: true as const}]),
    /** A request lacking a key part (header, API key): `skip` this rule, or `share` one bucket among all such requests. */
    ifMissing: z.enum(['skip', 'share']).default('skip'),
    /** Which requests the rule covers (all, by default); within a list any entry matches. */
    match: z
      .strictObject({
        methods: z.array(method).optional(),
        /** Path prefixes, e.g. /api/. */
        paths: z.array(z.string().startsWith('/', 'a path prefix starts with /')).optional(),
        /** Route names (with per-site routes). */
        routes: z.array(z.string().min(1)).optional(),
      })
      .prefault({}),
    /** Over the limit: `reject` (status + Retry-After), `delay` (hold up to maxDelay, bounded queue; buckets only), `drop` (close the connection). */
    action: z.enum(['reject', 'delay', 'drop']).default('reject'),
    /** delay: longest hold (default 1s). */
    maxDelay: optionalDurationMs(),
    /** delay: requests held at once on this node; beyond → rejected (default 1024). */
    maxQueue: z.number().int().min(1).max(1_000_000).optional(),
    status: z.union([z.literal(429), z.literal(503)]).default(429),
    /** Count only requests that need the origin (cache hits are free). */
    exemptCacheHits: z.boolean().default(false),
    /** `local` (this node) or `redis` (shared by the nodes: needs rateLimits.redis). */
    store: z.enum(['local', 'redis']).default('local'),
    /** store: redis, Redis unreachable: `local` (this node's limits × fallbackShare), `open` (allow), `closed` (refuse); default rateLimits.redis.failMode. */
    failMode: FailModeSchema.optional(),
    /** Send RateLimit-Policy / RateLimit fields for this rule. */
    headers: z.boolean().default(true),
  })
  .superRefine((r, ctx) => {
    const bucket = r.algorithm === 'token-bucket' || r.algorithm === 'leaky-bucket'
    if (r.action === 'delay' && !bucket) ctx.addIssue({code: 'custom', path: ['action'], message: `delay needs a bucket algorithm (token-bucket or leaky-bucket), not ${r.algorithm}`})
    if (r.action === 'delay' && r.maxDelay !== undefined && !(r.maxDelay >= 1)) ctx.addIssue({code: 'custom', path: ['maxDelay'], message: 'maxDelay must be at least 1ms'})
    if (r.action !== 'delay') {
      if (r.maxDelay !== undefined) ctx.addIssue({code: 'custom', path: ['maxDelay'], message: 'maxDelay applies to action: delay only'})
      if (r.maxQueue !== undefined) ctx.addIssue({code: 'custom', path: ['maxQueue'], message: 'maxQueue applies to action: delay only'})
    }
    if (r.burst !== undefined && !bucket) ctx.addIssue({code: 'custom', path: ['burst'], message: `burst applies to token-bucket and leaky-bucket only, not ${r.algorithm}`})
    if (r.failMode !== undefined && r.store !== 'redis') ctx.addIssue({code: 'custom', path: ['failMode'], message: 'failMode applies to store: redis only (a local rule never waits for Redis)'})
    if (r.algorithm === 'token-bucket' && r.burst === 0) ctx.addIssue({code: 'custom', path: ['burst'], message: 'a token bucket needs burst >= 1'})
  })

export const RateLimitRedis = z.strictObject({
  url: z.string().refine((v) => /^rediss?:\/\/[^/]+/.test(v), {message: 'expected redis://host:port[/db] or rediss://…'}),
  /** Prefix of the keys Tavern writes. */
  prefix: z.string().default('tavern:rl:'),
  /** Longest wait for one decision; slower → this node decides (the request is never held longer). */
  commandTimeout: durationMs('50ms').refine((ms) => ms >= 1, {message: 'commandTimeout must be at least 1ms'}),
  connectTimeout: durationMs('1s'),
  /** After a failed command, decisions stay local this long before Redis is asked again. */
  retryInterval: durationMs('1s'),
  /** Redis unreachable, for the rules without their own: `local` applies the limits on this node (× fallbackShare); `open` allows; `closed` refuses. */
  failMode: FailModeSchema.default('local'),
  /** failMode local: share of each limit one node allows alone (1/N for N nodes keeps the total about right). */
  fallbackShare: z.number().gt(0).max(1).default(1),
})

export const RateLimitsConfig = z
  .strictObject({
    rules: z.array(RateLimitRule).default([]),
    /** Keys (rule × client) kept per node; the least recently used is forgotten beyond. */
    localMaxKeys: z.number().int().min(1).max(100_000_000).default(100_000),
    redis: RateLimitRedis.optional(),
  })
  .prefault({})
  .superRefine((c, ctx) => {
    const seen = new Set<string>()
    c.rules.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({code: 'custom', path: ['rules', i, 'name'], message: `duplicate rule name ${JSON.stringify(r.name)}`})
      seen.add(r.name)
      if (r.store === 'redis' && c.redis === undefined) ctx.addIssue({code: 'custom', path: ['rules', i, 'store'], message: 'store: redis needs rateLimits.redis.url'})
    })
  })

export type RateLimitRuleConfig = z.output<typeof RateLimitRule>
export type RateLimitsConfigOutput = z.output<typeof RateLimitsConfig>
