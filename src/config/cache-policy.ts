/**
 * The operator's cache policy keys (issue #14): TTLs by status, origin fields to ignore, Set-Cookie handling,
 * request conditions that bypass the cache or forbid storing, extra cache-key parts, an object size cap and
 * min-uses. They sit in the global `cache` section (the defaults) and, each optional, in every site's and route's
 * `cache` overrides (src/config/sites.ts). What each does and its nginx / Varnish equivalent: README "Sites, routes
 * and cache policy".
 */
import {z} from 'zod'

import {parseBytes, parseDurationMs} from './sizes.js'

const fieldName = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a header field name')
/** RFC 6265 cookie-name (a token). */
const cookieName = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a cookie name (a token)')
const paramName = z.string().min(1)

/** A duration without a default (`"1h"`, `30000`) → ms. */
const durationValue = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = parseDurationMs(v)
  if (n === undefined) {
    ctx.addIssue({code: 'custom', message: `not a duration: ${JSON.stringify(v)} (use e.g. 500, "500ms", "30s", "5m", "1d")`})
    return z.NEVER
  }
  return n
})

/** `200`, `2xx` or `any` (nginx proxy_cache_valid's classes). */
export const TTL_STATUS = /^(?:[1-5]\d\d|[1-5]xx|any)$/

/** A request condition: a header, cookie or query parameter present (or with exactly this value). */
export const Condition = z.union([
  z.strictObject({header: fieldName.transform((s) => s.toLowerCase()), value: z.string().optional()}),
  z.strictObject({cookie: cookieName, value: z.string().optional()}),
  z.strictObject({query: paramName, value: z.string().optional()}),
])
export type Condition = z.output<typeof Condition>

/** An extra cache-key part: a request header's or cookie's value (normalised: trimmed, spaces collapsed, lower case unless caseSensitive). */
export const KeyPart = z.union([
  z.strictObject({header: fieldName.transform((s) => s.toLowerCase()), caseSensitive: z.boolean().default(false)}),
  z.strictObject({cookie: cookieName, caseSensitive: z.boolean().default(true)}),
])
export type KeyPart = z.output<typeof KeyPart>

/** Origin fields `ignoreOrigin` can make the cache disregard when deciding (they are still sent to clients). */
export const IGNORABLE_ORIGIN_FIELDS = ['cache-control', 'expires', 'vary'] as const

/** Spread into the `cache` section of ConfigSchema. */
export const cachePolicyKeys = {
  /** Freshness by status (`{200: '1h', '3xx': '10m', any: '1m'}`) when the origin gives none (or always, with forceTtl). */
  ttl: z
    .record(z.string().regex(TTL_STATUS, 'a status code (200), a class (2xx) or any'), durationValue)
    .default({}),
  /** The `ttl` table overrides the origin's own freshness (max-age, s-maxage, Expires) for the statuses it names. */
  forceTtl: z.boolean().default(false),
  /** Origin fields left out of every caching decision (still relayed and stored). */
  ignoreOrigin: z.array(z.enum(IGNORABLE_ORIGIN_FIELDS)).default([]),
  /** Responses with Set-Cookie: stored as is (RFC 9111), stored without Set-Cookie (strip), or not stored (bypass). */
  setCookie: z.enum(['store', 'strip', 'bypass']).default('store'),
  /** Requests with any Cookie (true) or one of these cookies skip the cache. */
  cookieBypass: z.union([z.boolean(), z.array(cookieName).min(1)]).default(false),
  /** Requests matching any of these skip the cache (no lookup, nothing stored). */
  bypass: z.array(Condition).default([]),
  /** Requests matching any of these may be answered from the cache, but what is fetched for them is not stored. */
  noStore: z.array(Condition).default([]),
  /** Extra cache-key parts (a separate object per value). */
  keyParts: z.array(KeyPart).default([]),
  /** Responses declaring a larger body are not stored (0 = no limit). */
  maxObjectSize: z
    .union([z.string(), z.number()])
    .default(0)
    .transform((v, ctx) => {
      const n = parseBytes(v)
      if (n === undefined) {
        ctx.addIssue({code: 'custom', message: `not a byte size: ${JSON.stringify(v)} (use e.g. 1048576, "512MiB", "10GB")`})
        return z.NEVER
      }
      return n
    }),
  /** Store a response only from the Nth request for it within minUsesWindow (nginx proxy_cache_min_uses). */
  minUses: z.number().int().min(1).max(1000).default(1),
  minUsesWindow: durationValue.default(600_000),
}
