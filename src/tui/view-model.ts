/** Display-ready pieces shared by the Ink dashboard and the plain `--once` rendering. */
import type {TopSnapshot} from '../admin/protocol.js'
import type {StatsSnapshot, StatusClass, TopKey} from '../stats/schema.js'
import {formatBytes, formatCount, formatDuration, formatPercent, formatRate, formatUptime} from '../util/format.js'

export type SortKey = 'requests' | 'bytes'

/** The daemon fields are optional so a bare Stats snapshot renders too. */
export type DisplaySnapshot = StatsSnapshot & Partial<Pick<TopSnapshot, 'version' | 'pid' | 'listeners' | 'cluster'>>

export function headerParts(s: DisplaySnapshot): {title: string; pid: string; uptime: string; listeners: string} {
  return {
    title: s.version ? `tavern ${s.version}` : 'tavern',
    pid: s.pid === undefined ? '' : `pid ${s.pid}`,
    uptime: `up ${formatUptime(s.uptimeSec)}`,
    listeners: s.listeners && s.listeners.length > 0 ? s.listeners.join(' ') : '',
  }
}

export function bigNumbers(s: StatsSnapshot): {reqPerSec: string; hit: string; byteHit: string; out: string; in: string; inFlight: string; originReqPerSec: string} {
  return {
    reqPerSec: formatRate(s.rates.requestsPerSec),
    hit: formatPercent(s.rates.hitRatio),
    byteHit: formatPercent(s.rates.byteHitRatio),
    out: `${formatBytes(s.rates.bytesOutPerSec)}/s`,
    in: `${formatBytes(s.rates.bytesInPerSec)}/s`,
    inFlight: formatCount(s.requests.inFlight),
    originReqPerSec: formatRate(s.rates.originRequestsPerSec),
  }
}

/**
 * Origin figures that cannot be misread: requests the origin answered with a 5xx are counted apart from requests
 * that got no answer at all (refused, reset, timed out) — an `err 0` next to `5xx 9.9%` read as "all is well".
 */
export function originParts(s: StatsSnapshot): {noAnswer: number; answered5xx: number; byReason: Array<{reason: string; count: number}>} {
  const byReason = Object.entries(s.origin.byReason ?? {})
    .filter(([, n]) => n > 0)
    .map(([reason, count]) => ({reason, count}))
  return {noAnswer: s.origin.errors, answered5xx: s.origin.byResult['5xx'] ?? 0, byReason}
}

export function latencyParts(l: StatsSnapshot['latency']['client']): {p50: string; p95: string; p99: string} {
  return {p50: formatDuration(l.p50Ms), p95: formatDuration(l.p95Ms), p99: formatDuration(l.p99Ms)}
}

export function statusShares(s: StatsSnapshot): Array<{label: StatusClass; count: number; share: string}> {
  const classes: StatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx']
  let total = 0
  for (const c of classes) total += s.requests.statusClasses[c] ?? 0
  return classes.map((label) => {
    const count = s.requests.statusClasses[label] ?? 0
    return {label, count, share: total > 0 ? formatPercent(count / total) : '—'}
  })
}

export function topKeyRows(s: StatsSnapshot, sort: SortKey, limit: number): Array<{key: string; requests: string; perSec: string; bytes: string; approx: boolean}> {
  const list: TopKey[] = sort === 'bytes' ? s.topKeys.byBytes : s.topKeys.byRequests
  const window = s.topKeys.windowSec > 0 ? s.topKeys.windowSec : 60
  return list.slice(0, Math.max(0, limit)).map((k) => ({
    key: k.key,
    requests: formatCount(k.requests),
    perSec: formatRate(k.requests / window),
    bytes: formatBytes(k.bytes),
    approx: k.error > 0,
  }))
}

export function storageParts(s: StatsSnapshot): string[] | null {
  const st = s.storage
  if (!st) return null
  return [
    `${formatCount(st.objects)} objects`,
    `disk ${formatBytes(st.diskBytes)}`,
    `memory ${formatBytes(st.memoryBytes)} (${formatCount(st.memoryObjects)} obj)`,
    `evictions ${formatCount(st.evictions)}`,
    `expired ${formatCount(st.expiredRemoved)}`,
  ]
}

/** Min/max over the last `n` points of a series, for the labels next to sparklines. */
export function seriesRange(values: ReadonlyArray<number | null>, n: number): {min: number | null; max: number | null} {
  let min: number | null = null
  let max: number | null = null
  for (const v of values.slice(-n)) {
    if (v === null) continue
    if (min === null || v < min) min = v
    if (max === null || v > max) max = v
  }
  return {min, max}
}

/** One peer of the cluster panel; rates are over the two last snapshots (null with one, or after the counters reset). */
export interface PeerRow {
  id: string
  state: 'self' | 'up' | 'DOWN'
  /** Share of the keys it serves now (a dead peer's moved on). */
  share: string
  outPerSec: string
  inPerSec: string
  out: string
  in: string
}

function perSec(cur: number, prev: number | undefined, dtSec: number | null): string {
  // A reload that replaced the cluster node starts its counters again: no rate rather than a negative one.
  if (prev === undefined || dtSec === null || cur < prev) return '—'
  return formatRate((cur - prev) / dtSec)
}

/** The cluster panel's rows, or null when the daemon is not part of a cluster. */
export function peerRows(s: DisplaySnapshot, prev?: DisplaySnapshot): PeerRow[] | null {
  const c = s.cluster
  if (!c) return null
  const dtSec = prev?.cluster && s.at > prev.at ? (s.at - prev.at) / 1000 : null
  const before = new Map((prev?.cluster?.peers ?? []).map((p) => [p.id, p]))
  return c.peers.map((p) => {
    const b = before.get(p.id)
    return {
      id: p.id,
      state: p.self ? 'self' : p.up ? 'up' : 'DOWN',
      share: formatPercent(p.liveShare),
      outPerSec: perSec(p.requestsOut, b?.requestsOut, dtSec),
      inPerSec: perSec(p.requestsIn, b?.requestsIn, dtSec),
      out: formatCount(p.requestsOut),
      in: formatCount(p.requestsIn),
    }
  })
}

/** At most `limit` rows: down peers are kept first when some must go, in ring order otherwise. */
export function fitPeerRows(rows: readonly PeerRow[], limit: number): {shown: PeerRow[]; hidden: number; hiddenDown: number} {
  if (rows.length <= limit) return {shown: [...rows], hidden: 0, hiddenDown: 0}
  const keep = Math.max(0, limit - 1) // one row says what is left out
  const order = [...rows.keys()].sort((a, b) => Number(rows[b]!.state === 'DOWN') - Number(rows[a]!.state === 'DOWN') || a - b)
  const picked = new Set(order.slice(0, keep))
  const shown = rows.filter((_, i) => picked.has(i))
  const left = rows.filter((_, i) => !picked.has(i))
  return {shown, hidden: left.length, hiddenDown: left.filter((r) => r.state === 'DOWN').length}
}
