/**
 * What the request path and the ops need from the rest of the daemon, as interfaces. The daemon builds one object
 * with getters (so a reload can swap the config, the upstream group, the access log and the plugin set without
 * rebuilding anything); tests build one from real parts (a Storage on a temp dir, an UpstreamGroup, a Stats). Nobody
 * imports the daemon. Types only: this module imports nothing from proxy/, daemon/ or ops/.
 */
import type {Readable} from 'node:stream'

import type {Logger} from 'pino'

import type {ClusterStatus, ClusterTraffic, DataPlaneStatus} from '../admin/protocol.js'
import type {LiveRequest} from './live-request.js'
import type {TavernConfig} from '../config/schema.js'
import type {NotStoredEntry} from '../stats/not-stored.js'
import type {PurgeHistoryEntry} from '../stats/purge-history.js'
import type {OriginRequestEvent, RefreshReason, RequestFinishedEvent, StatsCounters, StatsSnapshot, TopKey} from '../stats/schema.js'
import type {FillWriter, NewPartial, ObjectRecord, PartialHeadUpdate, PartialRecord, PurgeMode, PurgeResult, StorageUsage, VaryRecord} from '../storage/types.js'
import type {BackgroundRunner} from './background.js'
import type {HookSet} from './hooks.js'
import type {Origins, UpstreamHealth} from './origin.js'

export type {Logger}

/** What the data plane uses of the store (src/storage/store.ts implements it). */
export interface CacheStore {
  get(cacheKey: string, variant: string): ObjectRecord | undefined
  getVary(cacheKey: string): VaryRecord | undefined
  memoryBody(rec: ObjectRecord): Buffer | undefined
  readBody(rec: ObjectRecord, start?: number, endInclusive?: number): Readable
  touch(rec: ObjectRecord): void
  beginFill(cacheKey: string, variant: string): FillWriter
  refresh(cacheKey: string, variant: string, update: Pick<ObjectRecord, 'headers' | 'requestTime' | 'responseTime' | 'policy'> & {status?: number}): Promise<ObjectRecord | undefined>
  purgeKey(cacheKey: string, mode: PurgeMode): Promise<PurgeResult>
  purgePrefix(prefix: string, mode: PurgeMode, onProgress?: (r: PurgeResult) => void): Promise<PurgeResult>
  // Partial objects (range requests).
  getPartial(cacheKey: string, variant: string): PartialRecord | undefined
  partialPath(file: string): string
  newPartialFile(cacheKey: string, variant: string): Promise<{file: string; path: string}>
  beginPartialFill(): number
  endPartialFill(seq: number): void
  createPartial(p: NewPartial, seq: number): Promise<PartialRecord | null>
  markPartial(cacheKey: string, variant: string, file: string, slices: readonly number[], head?: PartialHeadUpdate): Promise<boolean>
  removePartial(cacheKey: string, variant: string, file?: string): Promise<void>
  promotePartial(cacheKey: string, variant: string, file: string, crc: number): Promise<ObjectRecord | null>
}

/** What the ops (purge, inspect, verify, status) use of the store on top. */
export interface OpsStore extends CacheStore {
  variants(cacheKey: string): ObjectRecord[]
  accessInfo(rec: ObjectRecord): {hits: number; lastAccess: number}
  bodyPath(rec: ObjectRecord): string
  verifyBody(rec: ObjectRecord): Promise<{ok: boolean; actualCrc32c: number; actualSize: number}>
  forEach(prefix: string, fn: (rec: ObjectRecord) => void | Promise<void>): Promise<number>
  usage(): StorageUsage
}

/** The data plane's side of the statistics (src/stats/recorder.ts). */
export interface StatsRecorder {
  requestStarted(): void
  requestFinished(e: RequestFinishedEvent): void
  /** A request sent to an origin (every one of them: fills, revalidations, slices, relays, refreshes). */
  originRequest(e: OriginRequestEvent): void
  /** Body bytes received from an origin. */
  originBytes(n: number): void
  /** The recent purges (admin and data-plane PURGE). */
  readonly purges: {record(e: PurgeHistoryEntry): void}
  /** Why `key` was not stored: where the decision is made (storability verdict, failed fetch, bypass). */
  notStored(key: string, kind: 'not-storable' | 'fetch-failed' | 'bypassed', reason: string, status?: number): void
  fillStarted(): void
  fillFinished(stored: boolean): void
  /** A background refresh started (tavern_refresh_total). */
  refreshStarted(reason: RefreshReason): void
  /** Requests the cache key certainly had in the last minute (the top-keys sketch; 0 when not among them). */
  keyRequests(key: string): number
  /** The hottest keys of the last minute (the hot set that warming persists). */
  hottest(n: number): TopKey[]
}

/** The admin side of the statistics: counters and full snapshots. */
export interface StatsReader {
  counters(): StatsCounters
  snapshot(): StatsSnapshot
  readonly purges: {list(): {recorded: number; kept: number; purges: PurgeHistoryEntry[]}}
  readonly notStoredMemory: {get(key: string): NotStoredEntry | undefined}
}

/** Where finished requests are logged (src/daemon/access-log.ts). */
export interface AccessLogSink {
  record(
    id: string | number,
    client: string | undefined,
    method: string | undefined,
    host: string | undefined,
    path: string | undefined,
    status: number,
    bytes: number,
    durationMs: number,
    cache: string,
    upstreamMs: number | undefined,
    endedAt: number,
    userAgent?: string,
    referer?: string,
    httpVersion?: string,
  ): void
}

export type {LiveRequest} from './live-request.js'

/** Where the live request log taps finished requests; `active` is false when nobody follows (then nothing is built). */
export interface RequestTap {
  readonly active: boolean
  record(e: LiveRequest): void
}

/** What the request path needs. Every field may change on reload: read it when needed, do not keep it. */
export interface DataPlaneServices {
  readonly config: TavernConfig
  readonly storage: CacheStore
  /** The default upstream group (the top-level `upstreams`). */
  readonly upstreams: Origins
  /** A named upstream group (`upstreamGroups`); 'default' is `upstreams`; undefined when there is none of that name. */
  upstreamGroup(name: string): Origins | undefined
  /** Forward-proxy mode: the origins of one destination (`scheme://authority`); absent where forwarding is not wired. */
  forwardOrigin?(origin: string): Origins
  readonly stats: StatsRecorder
  readonly log: Logger
  readonly accessLog: AccessLogSink | undefined
  /** Every background task (fills, slice fetches, refreshes, cleanup) runs here. */
  readonly background: BackgroundRunner
  /** The active plugin set's hooks and composed origin call. */
  readonly hooks: HookSet
  /** The live request log (absent in harnesses without one). */
  readonly requestTap?: RequestTap
}

/** Client connections of the data plane, as `status` shows them. */
export interface ConnectionInfo {
  open: number
  max: number
  derived: boolean
  fdLimit: number
  rejected: number
  evicted: number
}

export interface ReloadResult {
  applied: boolean
  source: string | undefined
  restartRequired: string[]
}

/** The hot set warming uses (src/proxy/refresh/warm.ts): the hottest keys, persisted across restarts. */
export interface HotKeys {
  top(n: number, prefix?: string): Promise<Array<{key: string; score: number}>>
}

/** What inspect-key shows of an object's background refreshes (src/proxy/refresh/refresher.ts). */
export interface RefreshState {
  last?: {at: number; reason: string; result: string}
  next?: {at: number; reason: string}
  inGrace: boolean
}

/** What the admin API and the ops need on top of the data plane's services. */
export interface OpsServices extends DataPlaneServices {
  /** The hot set (absent where nothing keeps one). */
  readonly hot?: HotKeys
  /** Refresh state of one stored variant (absent before the data plane runs). */
  refreshInfo?(key: string, variant: string): RefreshState | undefined
  readonly storage: OpsStore
  readonly stats: StatsRecorder & StatsReader
  readonly startedAt: number
  /** The config file in use (undefined: embedded defaults). */
  readonly configSource: string | undefined
  /** The data-plane listener's address (`host:port`). */
  readonly listenAddress: string
  /** The metrics listener's address (`host:port`), null when off. */
  readonly metricsAddress?: string | null
  readonly socketPath: string
  upstreamHealth(): UpstreamHealth[]
  connections(): ConnectionInfo
  /** Every data-plane listener, certificates and their expiry, HTTP/2 flood counts, the admin TCP listener. */
  dataPlane(): DataPlaneStatus
  /** Where the access log goes and how many lines it dropped, or null when it is off. */
  accessLogInfo(): {path: string; dropped: number} | null
  /** Re-read and apply the config (throws a ConfigError when it is invalid: nothing changes then). */
  reload(): Promise<ReloadResult>
  /** The live request log's followers (GET /log/stream; src/stats/live-log.ts). */
  readonly liveLog?: LiveLogHub
  /** The cluster ring and peers as this node sees them; undefined when it is not part of a cluster. */
  clusterStatus?(): ClusterStatus | undefined
  /** The peers' traffic for `GET /stats` (cheap, unlike clusterStatus); undefined when it is not part of a cluster. */
  clusterTraffic?(): ClusterTraffic | undefined
}

/** A follower of the live request log: told when its reader caught up. */
export interface LiveFollower {
  drained(): void
}

/** What the admin route uses of the live request log (src/stats/live-log.ts implements it). */
export interface LiveLogHub {
  readonly count: number
  /** Undefined when the follower limit is reached. */
  follow(sink: {write(text: string): boolean}, filter: (e: LiveRequest) => boolean): LiveFollower | undefined
  unfollow(f: LiveFollower): void
}
