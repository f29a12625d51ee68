import {z} from 'zod'

import {ClusterSchema} from '../cluster/config.js'
import {cachePolicyKeys} from './cache-policy.js'
import {ForwardProxySchema} from './forward-proxy.js'
import {checkDashboardPlacement, DashboardSchema} from './dashboard.js'
import {HeaderRewriteConfig, PluginsConfig} from './plugins.js'
import {bindSections, SitesSchema, UpstreamGroupsSchema} from './sites.js'
import {bytes, duration, hostPort} from './zod-units.js'
import {cacheRefreshKeys, WarmSchema} from './refresh.js'
import {RateLimitsConfig, upstreamMemberKeys, upstreamResilienceKeys} from './resilience.js'
import {ListenSchema, OriginProtocolFields, tlsConfigFields} from './tls.js'
import {isCidr} from '../util/cidr.js'

const httpUrl = z.string().refine(
  (v) => {
    try {
      const u = new URL(v)
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== ''
    } catch {
      return false
    }
  },
  {message: 'expected an absolute http:// or https:// URL'},
)

/**
 * Request fields that let a client override the URL, method, host or scheme an origin acts on, without being part of
 * the cache key: an origin (or framework) that honours one serves a response for something other than the key names,
 * and the cache stores it. Removed from every request, whoever sent it (README "Security" gives each one's reason).
 */
export const DEFAULT_STRIP_REQUEST_HEADERS: readonly string[] = [
  'X-Original-URL',
  'X-Rewrite-URL',
  'X-Override-URL',
  'X-Original-URI',
  'X-Forwarded-URI',
  'X-Forwarded-Path',
  'X-Forwarded-Prefix',
  'X-HTTP-Method-Override',
  'X-HTTP-Method',
  'X-Method-Override',
  'X-Host',
  'X-Forwarded-Server',
  'X-Original-Host',
  'X-HTTP-Host-Override',
  'X-Forwarded-Scheme',
  'X-Forwarded-SSL',
  'Front-End-Https',
]

const UNSTRIPPABLE = new Set(['host', 'content-length', 'transfer-encoding'])

const fieldName = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a header field name')

const cidr = z.string().refine((v) => isCidr(v), {message: 'expected an IP address or CIDR, e.g. 127.0.0.1/32 or ::1'})

const Upstream = z.strictObject({
  url: httpUrl,
  name: z.string().min(1).optional(),
  weight: z.number().int().min(1).max(1000).default(1),
  ...upstreamMemberKeys,
})

export const ConfigSchema = z.strictObject({
  /** Data-plane listeners: HOST:PORT, or a list of them and {address, tls, http2, h2c} entries (src/config/listeners.ts). */
  listen: ListenSchema,
  /** Admin API Unix socket; unset: $TAVERN_SOCKET, else /run/tavern/tavern.sock (root) or /tmp/tavern-<uid>/tavern.sock. */
  socket: z.string().min(1).optional(),
  upstreams: z.array(z.union([httpUrl.transform((url) => ({url, weight: 1, backup: false})), Upstream])).default([]),
  upstream: z
    .strictObject({
      connections: z.number().int().min(1).max(4096).default(128),
      connectTimeout: duration('5s'),
      headersTimeout: duration('30s'),
      bodyTimeout: duration('60s'),
      keepAliveTimeout: duration('4s'),
      /** How long an upstream that refused a connection is skipped when others are available. */
      failureCooldown: duration('5s'),
      /** Longest wait for a free upstream connection, or for a URL's share of them; then 503 with Retry-After. */
      queueTimeout: duration('10s'),
      /** Fraction of all upstream connections one cache key (URL) may use at once, so one slow URL cannot starve the others. */
      keyShare: z.number().gt(0).max(1).default(0.25),
      /** Requests one cache key may have waiting for its share; more are answered 503 at once. */
      keyQueue: z.number().int().min(0).max(1_000_000).default(1024),
      /** Balancing, health checks, outlier ejection, breakers, retries, timeouts (src/config/resilience.ts). */
      ...upstreamResilienceKeys,
      /** TLS and HTTP/2 towards https:// origins (src/config/tls.ts). */
      ...OriginProtocolFields,
    })
    .prefault({}),
  rateLimits: RateLimitsConfig,
  server: z
    .strictObject({
      /** How long SIGTERM waits for in-flight requests before closing them. */
      shutdownTimeout: duration('10s'),
      keepAliveTimeout: duration('5s'),
      headersTimeout: duration('60s'),
      requestTimeout: duration('300s'),
      maxHeaderSize: bytes(16384),
      /** Client connections open at once; "auto" derives it from the open-file limit (README: formula). */
      maxConnections: z.union([z.literal('auto'), z.number().int().min(1)]).default('auto'),
      /** Pseudonym used in Via. */
      via: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be an HTTP token').default('tavern'),
      /** Peers (IP or CIDR) whose Forwarded / X-Forwarded-* / client-IP fields are believed and extended; default none. */
      trustedProxies: z.array(cidr).default([]),
      /** Request fields removed before anything else sees the request (routing overrides); replaces the default list. */
      stripRequestHeaders: z
        .array(fieldName)
        .default([...DEFAULT_STRIP_REQUEST_HEADERS])
        .refine((names) => !names.some((n) => UNSTRIPPABLE.has(n.toLowerCase())), {message: 'Host, Content-Length and Transfer-Encoding cannot be stripped (they name the resource and frame the body)'}),
    })
    .prefault({})
    .refine((s) => s.requestTimeout === 0 || s.headersTimeout <= s.requestTimeout, {message: 'headersTimeout must not be longer than requestTimeout', path: ['headersTimeout']}),
  cache: z
    .strictObject({
      /** false turns Tavern into a plain reverse proxy (nothing is looked up or stored). */
      enabled: z.boolean().default(true),
      /** Targeted cache-control fields (RFC 9213), most specific first; the first present one replaces Cache-Control. */
      targetedFields: z.array(z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a header field name').transform((s) => s.toLowerCase())).default(['tavern-cache-control', 'cdn-cache-control']),
      /** Heuristic freshness: this fraction of (Date - Last-Modified) for responses without explicit freshness. */
      heuristicFraction: z.number().min(0).max(1).default(0.1),
      /** Cap on heuristic freshness. */
      heuristicMax: duration('1d'),
      /** Freshness given to heuristically cacheable responses that have no explicit freshness and no Last-Modified (0 = none, per RFC 9111). */
      defaultTtl: duration(0),
      /** Cap on any freshness lifetime (0 = no cap). */
      maxTtl: duration(0),
      /** Stored variants per URL when responses carry Vary; the least recently used is replaced. */
      maxVariants: z.number().int().min(1).max(1024).default(32),
      /** Collapse concurrent misses for the same object into one origin request. */
      collapse: z.boolean().default(true),
      /** Name used in Cache-Status (RFC 9211). */
      statusName: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be an HTTP token').default('tavern'),
      /** Also send X-Cache: HIT|MISS|STALE|REVALIDATED|BYPASS|ERROR. */
      xCache: z.boolean().default(false),
      /** Query-string handling in cache keys: keep as sent, sort parameters, or ignore the query. */
      query: z.enum(['keep', 'sort', 'ignore']).default('keep'),
      /** Query parameters left out of cache keys (e.g. utm_source). */
      ignoreParams: z.array(z.string().min(1)).default([]),
      /** Per-Host overrides of the key rules. */
      sites: z
        .record(
          // Named like the keys' authorities: lower case, no default port (every key is http://).
          z.string().min(1).transform((s) => s.toLowerCase().replace(/:0*80$/, '')),
          z.strictObject({query: z.enum(['keep', 'sort', 'ignore']).optional(), ignoreParams: z.array(z.string().min(1)).optional()}),
        )
        .default({}),
      /** Most ranges honoured in one Range header (after coalescing); more → the full 200 is sent (RFC 9110 §14.2). */
      maxRanges: z.number().int().min(1).max(1000).default(16),
      /** Partial objects (range requests) are fetched and stored in slices of this many bytes (64KiB to 1GiB). */
      sliceSize: bytes('1MiB').refine((n) => n >= 65_536 && n <= 1024 ** 3, {message: 'sliceSize must be between 64KiB and 1GiB'}),
      ...cachePolicyKeys,
      ...cacheRefreshKeys,
    })
    .prefault({}),
  /** Host → site, path prefix → route: upstream group and cache policy per site and route (src/config/sites.ts). */
  sites: SitesSchema,
  /** Named upstream groups: `{name: {upstreams: [...], ...upstream keys}}`; the top-level upstreams are `default`. */
  upstreamGroups: UpstreamGroupsSchema,
  warm: WarmSchema,
  purge: z
    .strictObject({
      /** Client addresses (CIDR or plain IP) allowed to use the HTTP PURGE method on the data plane. */
      allow: z.array(z.string().refine((v) => isCidr(v), {message: 'expected an IP address or CIDR, e.g. 127.0.0.1/32 or ::1'})).default(['127.0.0.1/8', '::1/128']),
      /** Request header carrying the purge type: `file` (default) or `dir`, optionally `,hard` (delete) — Tavern/Varnish compatible. */
      header: z.string().min(1).default('Purge-Type'),
    })
    .prefault({}),
  storage: z
    .strictObject({
      dir: z.string().min(1).default('./.tavern'),
      maxDiskBytes: bytes('10GiB'),
      diskHighWatermark: z.number().gt(0).max(1).default(0.95),
      diskLowWatermark: z.number().gt(0).max(1).default(0.9),
      memoryBytes: bytes('256MiB'),
      memoryMaxObjectBytes: bytes('1MiB'),
      evictionInterval: duration('5s'),
      gcGrace: duration('1d'),
    })
    .prefault({})
    .refine((s) => s.diskLowWatermark < s.diskHighWatermark, {message: 'diskLowWatermark must be below diskHighWatermark', path: ['diskLowWatermark']}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    })
    .prefault({}),
  accessLog: z
    .strictObject({
      /** One JSON line per request. */
      enabled: z.boolean().default(false),
      /** `stdout`, or a file path (appended; reopened on SIGUSR1 for log rotation). */
      path: z.string().min(1).default('stdout'),
      /** `json` (one object per line, every field) or `combined` (Apache/nginx combined, for existing log tools). */
      format: z.enum(['json', 'combined']).default('json'),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /** Prometheus listener HOST:PORT serving GET /metrics; unset = off. */
      listen: hostPort.optional(),
    })
    .prefault({}),
  /** TLS protocol settings, HTTP/2 limits, the admin TCP listener (src/config/tls.ts). */
  ...tlsConfigFields,
  dashboard: DashboardSchema,
  plugins: PluginsConfig,
  headerRewrite: HeaderRewriteConfig,
  /** Peers sharing the cache by consistent hashing (src/cluster/config.ts); absent: no cluster. */
  cluster: ClusterSchema,
  /** Forward-proxy mode: trusted clients' absolute-form targets fetched from their own origins (src/config/forward-proxy.ts). */
  forwardProxy: ForwardProxySchema,
}).superRefine(checkDashboardPlacement)

bindSections(ConfigSchema.shape)

export type TavernConfig = z.output<typeof ConfigSchema>
export type TavernConfigInput = z.input<typeof ConfigSchema>
