import {formatCount, formatPercent, padLeft, padRight, truncateMiddle} from '../util/format.js'
import {sparkline} from './sparkline.js'
import {type DisplaySnapshot, bigNumbers, headerParts, latencyParts, originParts, peerRows, statusShares, storageParts, topKeyRows} from './view-model.js'
import {upstreamStateWords} from './upstream-state.js'

export interface RenderOnceOptions {
  /** Line width to fit (default 80). */
  width?: number
  /** Rows per top-keys table (default 10). */
  topKeys?: number
}

/** A plain-text (no ANSI) rendering of one snapshot, for `tavern top --once` and for logs. */
export function renderOnce(snapshot: DisplaySnapshot, opts: RenderOnceOptions = {}): string {
  const width = Math.max(40, opts.width ?? 80)
  const limit = opts.topKeys ?? 10
  const s = snapshot
  const h = headerParts(s)
  const big = bigNumbers(s)
  const client = latencyParts(s.latency.client)
  const ttfb = latencyParts(s.latency.originTtfb)
  const lines: string[] = []
  const add = (line: string) => lines.push(line.length > width ? `${line.slice(0, width - 1)}…` : line)
  const sparkW = Math.max(10, width - 8)

  add([h.title, h.pid, h.uptime].filter(Boolean).join(' · '))
  if (h.listeners) add(`listening ${h.listeners}`)
  add('')
  add(`requests/s    ${big.reqPerSec}   (last ${s.rates.windowSec}s; ${formatCount(s.requests.total)} total, ${big.inFlight} in flight)`)
  add(`hit ratio     ${big.hit} by requests, ${big.byteHit} by bytes   (since start: ${formatPercent(s.requests.hitRatio)} / ${formatPercent(s.requests.byteHitRatio)})`)
  add(`bandwidth     to clients ${big.out}, from origin ${big.in}`)
  const origin = originParts(s)
  add(`origin        ${big.originReqPerSec} req/s, ${formatCount(s.origin.requests)} total: ${formatCount(origin.answered5xx)} answered 5xx, ${formatCount(origin.noAnswer)} without an answer${s.origin.lastError ? ` (last: ${s.origin.lastError.message})` : ''}`)
  if (origin.byReason.length > 0) add(`origin why    ${origin.byReason.map((r) => `${r.reason} ${formatCount(r.count)}`).join('  ')}`)
  add(`latency       p50 ${client.p50}  p95 ${client.p95}  p99 ${client.p99}   (last ${s.latency.windowSec}s, ${formatCount(s.latency.client.count)} requests)`)
  add(`origin ttfb   p50 ${ttfb.p50}  p95 ${ttfb.p95}  p99 ${ttfb.p99}`)
  add(`status        ${statusShares(s).map((c) => `${c.label} ${formatCount(c.count)} (${c.share})`).join('  ')}`)
  const o = s.requests.byOutcome
  add(`outcomes      hit ${formatCount(o.hit)}  stale ${formatCount(o.stale)}  revalidated ${formatCount(o.revalidated)}  miss ${formatCount(o.miss)}  bypass ${formatCount(o.bypass)}  error ${formatCount(o.error)}`)
  add(`fills         ${formatCount(s.fills.inFlight)} in flight, ${formatCount(s.fills.stored)} stored, ${formatCount(s.fills.aborted)} aborted; ${formatCount(s.requests.collapsed)} collapsed requests`)
  if (s.series.requestsPerSec.length > 0) {
    add('')
    add(`req/s   ${sparkline(s.series.requestsPerSec, sparkW)}`)
    add(`hit %   ${sparkline(s.series.hitRatio, sparkW, {min: 0, max: 1})}`)
  }

  const keyW = Math.max(16, width - 7 - 7 - 10 - 3)
  for (const sort of ['requests', 'bytes'] as const) {
    add('')
    add(`top keys by ${sort} (last ${s.topKeys.windowSec}s)`)
    const rows = topKeyRows(s, sort, limit)
    if (rows.length === 0) {
      add('  (no requests in the window)')
      continue
    }
    add(`${padRight('KEY', keyW)} ${padLeft('REQ', 7)} ${padLeft('REQ/S', 7)} ${padLeft('BYTES', 10)}`)
    for (const r of rows) {
      add(`${padRight(truncateMiddle(r.key, keyW), keyW)} ${padLeft(`${r.approx ? '~' : ''}${r.requests}`, 7)} ${padLeft(r.perSec, 7)} ${padLeft(r.bytes, 10)}`)
    }
  }

  add('')
  const storage = storageParts(s)
  add(`storage       ${storage ? storage.join(', ') : 'not reported'}`)
  if (s.upstreams.length === 0) add('upstreams     none reported')
  for (const u of s.upstreams) {
    const state = upstreamStateWords(u)
    add(`upstream      ${u.healthy ? 'up  ' : 'DOWN'} ${u.name} ${u.url}  ${formatCount(u.inFlight)} in flight, ${formatCount(u.failures)} failures${state ? `, ${state}` : ''}`)
  }
  const peers = peerRows(s)
  if (peers && s.cluster) {
    // One snapshot has no rates: totals since the node started.
    add(`cluster       ${formatCount(s.cluster.peers.length)} peers, ${formatCount(peers.filter((p) => p.state === 'DOWN').length)} down, ${formatCount(s.cluster.fallbacks)} fallbacks to the origin`)
    for (const p of peers) add(`peer          ${padRight(p.state, 4)} ${p.id}  share ${p.share}, out ${p.out}, in ${p.in}`)
  }
  for (const e of s.probeErrors ?? []) add(`probe error   ${e}`)
  return `${lines.join('\n')}\n`
}
