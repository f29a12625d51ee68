/**
 * The admin API's wire protocol: the request and answer bodies of every endpoint, shared by the server routes
 * (src/admin/routes/) and their clients (src/client/, src/commands/, src/tui/). Types only.
 *
 *   GET  /status                                                   → StatusBody
 *   GET  /status/cluster                                           → ClusterStatusBody
 *   POST /reload                                                   → ReloadReply | 422 ErrorBody
 *   GET  /stats              (and /stats/stream: one per line)     → TopSnapshot
 *   POST /purge              PurgeRequestBody                      → PurgeReply
 *   GET  /purges                                                   → PurgeListReply
 *   GET  /log/stream         ?filter=…                             → NDJSON LogLine…
 *   POST /prefetch           PrefetchRequestBody                   → NDJSON PrefetchLine…
 *   GET  /keys/inspect       ?url=…[&h=Name: value…]               → InspectReply
 *   POST /verify             VerifyRequestBody                     → NDJSON VerifyLine…
 * Errors: the status of the catalogue code (src/core/errors.ts) and ErrorBody.
 */
import type {StoredPolicy} from '../cache/policy-types.js'
import type {UpstreamHealth} from '../core/origin.js'
import type {LiveRequest} from '../core/live-request.js'
import type {PurgeHistoryEntry} from '../stats/purge-history.js'
import type {StatsSnapshot} from '../stats/schema.js'
import type {PurgeMode, StorageUsage} from '../storage/types.js'

/** Every admin error answer (and a CLI `--json` error). `code` is a TAVERN_ERR_* code of the catalogue. */
export interface ErrorBody {
  error: {code: string; message: string}
}

// ---- GET /status/cluster -----------------------------------------------------------------------

/** What `tavern status --cluster` shows of one peer, as this node sees it. */
export interface PeerStatus {
  /** Its base URL, normalised (the ring member's name). */
  id: string
  /** This node. */
  self: boolean
  weight: number
  /** Health as this node sees it (itself: always up). */
  up: boolean
  /** Down because a forward failed, until its probes pass `rise` times. */
  passiveDown: boolean
  /** Share of the keys the ring gives it (0..1), measured on the ring with sample keys. */
  share: number
  /** Share of the keys it serves right now: dead peers' keys moved to the next live one. */
  liveShare: number
  /** Requests this node forwarded to it (it owns their keys). */
  requestsOut: number
  /** Requests it forwarded to this node. */
  requestsIn: number
  /** Probes so far, and the last one's error and latency. */
  checks?: number
  lastError?: string
  lastLatencyMs?: number
}

export interface ClusterStatus {
  self: string
  vnodes: number
  /** `static` (the config's list), or a dynamic membership's type. */
  membership: string
  hopHeader: string
  /** Addresses whose hop header is believed. */
  trust: readonly string[]
  /** Requests for keys another peer owns that no peer could take: this node asked the origin itself. */
  fallbacks: number
  peers: PeerStatus[]
}

/**
 * The cluster part of `GET /stats` (what `tavern top` shows of the peers), present only when the daemon has a
 * `cluster` section: cheap to read on every poll (see src/admin/cluster-traffic.ts).
 */
export interface ClusterTraffic {
  self: string
  /** Requests for other peers' keys that no peer could take (this node asked the origin itself). */
  fallbacks: number
  /** Ring members in ring order; the counters are totals since this node (or its last cluster reload) started. */
  peers: Array<Pick<PeerStatus, 'id' | 'self' | 'weight' | 'up' | 'share' | 'liveShare' | 'requestsOut' | 'requestsIn'>>
}

/** null: this daemon is not part of a cluster (no `cluster` section). */
export interface ClusterStatusBody {
  cluster: ClusterStatus | null
}

// ---- GET /status -------------------------------------------------------------------------------

export interface StatusBody {
  version: string
  pid: number
  uptimeSeconds: number
  /** `metrics`: the Prometheus listener's host:port, null when off (absent from daemons before it was reported). */
  listeners: {http: string; admin: string; metrics?: string | null}
  upstreams: UpstreamHealth[]
  config: {source: string}
  storage: {dir: string} & StorageUsage
  counters: {requests: number; inFlight: number; hits: number; misses: number; originRequests: number; bytesOut: number}
  /** Client connections: open now, the limit (and whether it was derived from the open-file limit), closed for it. */
  connections: {open: number; max: number; derived: boolean; fdLimit: number; rejected: number; evicted: number}
  /** Where the access log goes and how many lines a stalled disk made it drop (null when off). */
  accessLog: {path: string; dropped: number} | null
  /** Plugins of the active set, in load order (built-ins first). */
  plugins?: string[]
  /** Sites and their routes (`sites`; the implicit default site when none are configured). */
  sites?: SiteInfo[]
  /** Named upstream groups (`upstreamGroups`) and their members; the default group is `upstreams`. */
  groups?: Array<{name: string; upstreams: UpstreamHealth[]}>
  /** Every data-plane listener, the admin TCP listener, TLS certificates and HTTP/2 flood counts (absent from older daemons). */
  dataPlane?: DataPlaneStatus
}

/** One route of a site as status and inspect-key show it: its prefix, group and the policy keys that differ from `cache`. */
export interface RouteInfo {
  /** Route name; null for the site's own policy (paths no route claims). */
  route: string | null
  prefix: string
  group: string
  policy: Record<string, unknown>
}

export interface SiteInfo {
  /** Site name; null for the implicit site of a config without sites. */
  site: string | null
  hosts: string[]
  /** Takes the Hosts no other site claims. */
  default: boolean
  routes: RouteInfo[]
}

/** A bound data-plane listener. */
export interface ListenerStatus {
  /** host:port bound. */
  address: string
  scheme: 'http' | 'https'
  /** TLS: h2 offered by ALPN; plain: h2c with prior knowledge. */
  http2: boolean
}

/** A TLS certificate being served. */
export interface CertificateStatus {
  listener: string | undefined
  role: 'default' | 'sni'
  names: string[]
  certFile: string
  notAfter: string
  /** Seconds until notAfter (negative: expired while serving). */
  secondsLeft: number
  fingerprint256: string
  /** Expires within tls.expiryWarning. */
  expiringSoon: boolean
}

export interface DataPlaneStatus {
  listeners: ListenerStatus[]
  /** host:port of the admin API over TCP (admin.listen), or null. */
  adminTcp: string | null
  /** Soonest expiry first. */
  certificates: CertificateStatus[]
  tlsHandshakeFailures: number
  /** HTTP/2 sessions closed for a flood, per kind. */
  http2Floods: {resets: number; pings: number; settings: number}
}

// ---- POST /reload ------------------------------------------------------------------------------

export interface ReloadReply {
  applied: boolean
  source: string | undefined
  restartRequired: string[]
}

// ---- GET /stats, /stats/stream -----------------------------------------------------------------

/** What the daemon adds to every /stats answer. */
export interface DaemonInfo {
  version: string
  pid: number
  /** Data-plane listeners as URLs, e.g. `http://0.0.0.0:8080`. */
  listeners: string[]
  /** Peer traffic, only when the daemon is part of a cluster. */
  cluster?: ClusterTraffic
}

/** The body of `GET /stats` and of each `GET /stats/stream` line. */
export type TopSnapshot = StatsSnapshot & DaemonInfo

// ---- targets of purge and verify ---------------------------------------------------------------

/** What a purge / verify request names: single URLs and/or one directory. */
export interface TargetInput {
  /** One URL (same as urls: [url]). */
  url?: unknown
  urls?: unknown
  dir?: unknown
  host?: unknown
}

// ---- POST /purge -------------------------------------------------------------------------------

export interface PurgeRequestBody extends TargetInput {
  mode?: unknown
  /** With `dir`: after the purge, re-fetch (in the background) the keys that were hot under the prefix. */
  rewarm?: unknown
  /** Purge on every node of the cluster too (each peer through the data-plane PURGE); the reply gains `cluster`. */
  cluster?: unknown
}

/** One node's part of a cluster purge (`purge --cluster`). */
export interface PurgeNodeResult {
  /** The peer's id (its base URL). */
  node: string
  /** This node (purged through its storage, not over PURGE). */
  self: boolean
  /** Every URL and directory was purged there (matching nothing is no failure). */
  ok: boolean
  matched: number
  /** Objects deleted (mode delete) or marked expired (mode expire). */
  purged: number
  expired: number
  bytesFreed: number
  /** URLs or directories that failed there. */
  failed: number
  /** The first failure, when not ok. */
  error?: string
}

export interface PurgeItem {
  /** The URL (or directory) as given. */
  url: string
  /** Cache key, or key prefix for a directory. */
  key: string
  dir?: true
  matched: number
  /** Objects affected: deleted (mode delete) or marked expired (mode expire). */
  purged: number
  /** Objects marked expired (mode expire; 0 for delete): a soft purge deletes nothing. */
  expired: number
  bytesFreed: number
  /** For a URL that matched nothing: stored keys of the same path under the same host name (another port or scheme). */
  suggestions?: string[]
}

export interface PurgeReply {
  mode: PurgeMode
  matched: number
  purged: number
  expired: number
  bytesFreed: number
  results: PurgeItem[]
  /** With `rewarm`: how many hot keys under the purged prefix are being re-fetched (in the background). */
  rewarm?: {keys: number}
  /** With `cluster`: every node's part, this node first (the fields above are this node's alone). */
  cluster?: {nodes: PurgeNodeResult[]}
}

// ---- GET /purges -------------------------------------------------------------------------------

/** The recent purges (admin and data-plane PURGE), newest first; `recorded` counts all since start. */
export interface PurgeListReply {
  recorded: number
  kept: number
  purges: PurgeHistoryEntry[]
}

// ---- GET /log/stream ---------------------------------------------------------------------------

export interface LogStart {
  type: 'start'
  filters: string[]
  /** Clients following now, this one included. */
  followers: number
}

export type LogRequestLine = {type: 'request'} & LiveRequest

/** This reader fell behind: `count` lines were not sent since the last such line (`total` since it started). */
export interface LogDropped {
  type: 'dropped'
  count: number
  total: number
}

export type LogLine = LogStart | LogRequestLine | LogDropped

// ---- POST /prefetch ----------------------------------------------------------------------------

export interface PrefetchRequestBody {
  urls?: unknown
  /** Extra request headers (e.g. Accept-Encoding, Accept-Language) so a Vary'd variant is fetched. */
  headers?: unknown
  /** Refetch even if fresh: the request carries Cache-Control: no-cache, so the daemon revalidates. */
  force?: unknown
  concurrency?: unknown
  /** Instead of `urls`: re-fetch this many of the hottest keys (the persisted hot set with the last minute folded in). */
  hot?: unknown
}

export type PrefetchOutcome = 'stored' | 'fresh' | 'revalidated' | 'failed'

export interface PrefetchResult {
  type: 'result'
  url: string
  /** HTTP status of the answer; 0 when there was none. */
  status: number
  outcome: PrefetchOutcome
  /** Body bytes received. */
  bytes: number
  error?: string
}

export interface PrefetchSummary {
  type: 'summary'
  total: number
  /** URLs now in cache: stored + fresh + revalidated. */
  ok: number
  stored: number
  fresh: number
  revalidated: number
  failed: number
  bytes: number
}

export interface PrefetchStart {
  type: 'start'
  total: number
  concurrency: number
}

/** A failure after the stream started: the last line. */
export interface StreamError extends ErrorBody {
  type: 'error'
}

export type PrefetchLine = PrefetchStart | PrefetchResult | PrefetchSummary | StreamError

// ---- GET /keys/inspect -------------------------------------------------------------------------

export interface VariantInfo {
  /** Vary selector ('' when the response has no Vary). */
  variant: string
  /** This variant is the one the given request headers select (only with `h` parameters). */
  selected?: boolean
  status: number
  statusText: string
  size: number
  /** Stored response header lines in order, as [name, value] (what is stored, not what a rewrite rule sends). */
  headers: Array<[string, string]>
  /** Date header (ISO), when valid. */
  date: string | null
  /** Current Age in seconds (what the next hit would send). */
  age: number
  requestTime: string
  responseTime: string
  storedAt: string
  freshness: {
    /** Freshness lifetime, seconds. */
    lifetime: number
    source: StoredPolicy['lifetimeSource']
    /** Where the lifetime came from, for people. */
    sourceText: string
    /** Seconds until the response becomes stale (negative: stale for that long). */
    ttl: number
    expiresAt: string
  }
  state: 'fresh' | 'stale'
  /** Why a stored response cannot be reused without revalidation (directive, expiry or purge). */
  staleReason?: string
  /** Whether a stale answer may still be served, and under which rule. */
  serveStale?: 'stale-while-revalidate'
  invalidatedAt?: string
  directives: {noCache: boolean; mustRevalidate: boolean; staleWhileRevalidate?: number; staleIfError?: number}
  validators: {etag?: string; lastModified?: string}
  /** CRC32C of the body recorded at fill time, as 8 hex digits. */
  crc32c: string
  /** 'memory' = also held in the memory tier; the body file is on disk either way. */
  tier: 'memory' | 'disk'
  /** Hits and last access as last flushed (touches are written in batches, about every second). */
  hits: number
  lastAccess: string
  file: string
  bodyPath: string
  /** Background refreshes (fuzzy, auto, swr, grace): the last one, a scheduled auto refresh, grace state. */
  refresh?: {
    last?: {at: string; reason: string; result: string}
    next?: {at: string; reason: string}
    /** The origin failed revalidating it: served from grace (stale) until a revalidation succeeds. */
    inGrace: boolean
  }
  /** Until when the stored response may be served if the origin fails (cache.grace / stale-if-error), or null when never. */
  graceUntil?: string | null
}

export interface InspectReply {
  url: string
  key: string
  stored: boolean
  /** The URL's Vary state, or null when its responses have no Vary. */
  vary: {names: string[]; variants: string[]} | null
  /** With request headers: the selector they produce (null for Vary: *), and whether that variant is stored. */
  selection?: {headers: Array<[string, string]>; variant: string | null; stored: boolean}
  variants: VariantInfo[]
  /** The site and route that decide about the URL (null: no site claims its host, clients get 421). */
  route?: (RouteInfo & {site: string | null}) | null
  /** When nothing is stored: why, as far as the daemon knows (since it started). */
  notCached?: NotCachedInfo
}

export interface NotCachedInfo {
  /**
   * `not-storable`: the last answer could not be stored (`reason`: no-store, private, Set-Cookie, status, Vary: *…);
   * `fetch-failed`: the last fetch got no usable answer; `bypassed`: requests for it bypass the cache;
   * `purged`: a recent purge removed it; `unknown`: none of those since the daemon started (never requested, or
   * evicted / expired and removed).
   */
  why: 'not-storable' | 'fetch-failed' | 'bypassed' | 'purged' | 'unknown'
  reason: string
  /** ISO time of the decision or purge. */
  at?: string
  status?: number
  /** Stored keys of the same path under the same host name (another port or scheme). */
  suggestions: string[]
}

// ---- POST /verify ------------------------------------------------------------------------------

export interface VerifyRequestBody extends TargetInput {
  /** Every stored object. */
  all?: unknown
  /** Delete objects whose body does not match (so the next request refetches them). */
  purgeBad?: unknown
  /** Read at most this many body bytes per second (0 / absent: no limit beyond yielding between objects). */
  rateBytesPerSec?: unknown
}

export interface VerifyProgress {
  type: 'progress'
  checked: number
  bytes: number
  mismatches: number
}

export interface VerifyMismatch {
  type: 'mismatch'
  url: string
  key: string
  variant: string
  file: string
  bodyPath: string
  expectedCrc32c: string
  actualCrc32c: string
  expectedSize: number
  actualSize: number
  /** The body file is gone. */
  missing: boolean
  /** Deleted (with purgeBad). */
  purged: boolean
}

export interface VerifySummary {
  type: 'summary'
  /** Objects (variants) whose body was read. */
  checked: number
  ok: number
  mismatches: number
  purged: number
  /** Objects that changed while being checked (refilled or purged meanwhile), not counted as mismatches. */
  skipped: number
  bytes: number
  durationMs: number
}

export type VerifyLine = {type: 'start'; scope: string} | VerifyProgress | VerifyMismatch | VerifySummary | StreamError
