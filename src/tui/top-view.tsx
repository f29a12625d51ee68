import {Box, Text, useApp, useInput, useStdin, useStdout} from 'ink'
import {createContext, type ReactNode, useContext, useEffect, useRef, useState} from 'react'

import type {TopSnapshot} from '../admin/protocol.js'
import {formatCount, formatPercent, formatRate, padLeft, padRight, truncateMiddle} from '../util/format.js'
import {brailleChart, sparkline} from './sparkline.js'
import {type PeerRow, type SortKey, bigNumbers, fitPeerRows, headerParts, latencyParts, originParts, peerRows, seriesRange, statusShares, storageParts, topKeyRows} from './view-model.js'

export interface TopViewProps {
  /** Fetches one snapshot (the command wraps `GET /stats`); a throw means the daemon is unreachable. */
  source: () => Promise<TopSnapshot>
  intervalMs: number
  /** A snapshot already in hand: shown at once, and the first poll waits one interval. */
  initial?: TopSnapshot
  /** Keyboard handling; defaults to whether Ink's stdin supports raw mode (false without a TTY). */
  inputActive?: boolean
}

/** Rows every layout needs besides the top-keys table (header … footer). */
const FIXED_ROWS = 12
/** The cluster panel's title and column header. */
const PEER_PANEL_ROWS = 2
/** Columns of the cluster panel besides the peer id (state, share, out/s, in/s), and the totals shown when wide. */
const PEER_COLS = {state: 5, share: 6, rate: 7, total: 7}
/** Below this width the totals go and the columns tighten, so a host:port still fits at 40 columns. */
const PEER_TOTALS_MIN_WIDTH = 72
const PEER_COLS_NARROW = {state: 5, share: 6, rate: 6, total: 0}

/** The peer id to fit `w` columns: without `http://` when the whole URL does not fit (https:// is kept). */
function peerLabel(id: string, w: number): string {
  const short = id.length > w && id.startsWith('http://') ? id.slice('http://'.length) : id
  return padRight(truncateMiddle(short, w), w)
}

/** Ink scrolls the terminal when a frame is as tall as the screen, so leave one row free. */
const SLACK_ROWS = 1

/** When the data is stale, values lose their colour and bold (bold's reset would also cancel the dim). */
const StaleContext = createContext(false)

function V({children, color}: {children: ReactNode; color?: string}) {
  const stale = useContext(StaleContext)
  return stale ? <Text>{children}</Text> : <Text bold color={color}>{children}</Text>
}

function Line({children}: {children: ReactNode}) {
  const stale = useContext(StaleContext)
  return (
    <Text wrap="truncate-end" dimColor={stale}>
      {children}
    </Text>
  )
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function ratioColor(r: number | null): string {
  if (r === null) return 'gray'
  return r >= 0.8 ? 'green' : r >= 0.5 ? 'yellow' : 'red'
}

function readSize(stdout: NodeJS.WriteStream): {columns: number; rows: number} {
  // Test doubles and pipes may lack rows/columns: assume the classic 80×24.
  return {columns: stdout.columns > 0 ? stdout.columns : 80, rows: stdout.rows > 0 ? stdout.rows : 24}
}

function useTerminalSize(): {columns: number; rows: number} {
  const {stdout} = useStdout()
  const [size, setSize] = useState(() => readSize(stdout))
  useEffect(() => {
    const onResize = () => setSize(readSize(stdout))
    stdout.on('resize', onResize)
    return () => {
      stdout.off('resize', onResize)
    }
  }, [stdout])
  return size
}

function formatInterval(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${Math.round(ms / 100) / 10}s`
}

function stateColor(state: PeerRow['state']): string {
  return state === 'DOWN' ? 'red' : state === 'self' ? 'cyan' : 'green'
}

/** Peer traffic, one row per ring member: its state, share of the keys, requests forwarded each way. */
function PeerPanel({fit, width, total, fallbacks, stale}: {fit: ReturnType<typeof fitPeerRows>; width: number; total: number; fallbacks: number; stale: boolean}) {
  const totals = width >= PEER_TOTALS_MIN_WIDTH
  const c = totals ? PEER_COLS : PEER_COLS_NARROW
  const fixed = c.state + c.share + 2 * c.rate + 4 + (totals ? 2 * (c.total + 1) : 0)
  const idW = Math.max(10, width - fixed)
  const down = fit.shown.filter((r) => r.state === 'DOWN').length + fit.hiddenDown
  return (
    <Box flexDirection="column">
      <Line>
        <V>cluster</V> {formatCount(total)} peers · <V color={down > 0 ? 'red' : undefined}>{formatCount(down)}</V> down · fallbacks{' '}
        <V color={fallbacks > 0 ? 'yellow' : undefined}>{formatCount(fallbacks)}</V>
      </Line>
      <Text dimColor wrap="truncate-end">
        {padRight('PEER', idW)} {padRight('STATE', c.state)} {padLeft('SHARE', c.share)} {padLeft('OUT/S', c.rate)} {padLeft('IN/S', c.rate)}
        {totals ? ` ${padLeft('OUT', c.total)} ${padLeft('IN', c.total)}` : ''}
      </Text>
      {fit.shown.map((r) => (
        <Line key={r.id}>
          {peerLabel(r.id, idW)} <Text color={stale ? undefined : stateColor(r.state)}>{padRight(r.state, c.state)}</Text> {padLeft(r.share, c.share)}{' '}
          {padLeft(r.outPerSec, c.rate)} {padLeft(r.inPerSec, c.rate)}
          {totals ? ` ${padLeft(r.out, c.total)} ${padLeft(r.in, c.total)}` : ''}
        </Line>
      ))}
      {fit.hidden > 0 ? (
        <Text dimColor wrap="truncate-end">
          … {formatCount(fit.hidden)} more peers{fit.hiddenDown > 0 ? ` (${formatCount(fit.hiddenDown)} down)` : ''}: tavern status --cluster
        </Text>
      ) : null}
    </Box>
  )
}

export function TopView({source, intervalMs, initial, inputActive}: TopViewProps) {
  const {exit} = useApp()
  const {isRawModeSupported} = useStdin()
  const {columns, rows} = useTerminalSize()
  const [snap, setSnap] = useState<TopSnapshot | undefined>(initial)
  const [error, setError] = useState<string | null>(null)
  const [lastOkAt, setLastOkAt] = useState<number | null>(initial ? Date.now() : null)
  // Bumped on every poll so the stale age in the header re-renders even when the error text repeats.
  const [, setAttempts] = useState(0)
  const [paused, setPaused] = useState(false)
  const [sort, setSort] = useState<SortKey>('requests')
  const [help, setHelp] = useState(false)
  const skipFirstPoll = useRef(initial !== undefined)
  // The snapshot before the current one: peer request rates are the counters' change between the two.
  const latest = useRef<TopSnapshot | undefined>(initial)
  const previous = useRef<TopSnapshot | undefined>(undefined)

  useInput(
    (input, key) => {
      if (input === 'q' || (key.ctrl && input === 'c')) exit()
      else if (input === 'p') setPaused((p) => !p)
      else if (input === 's') setSort((s) => (s === 'requests' ? 'bytes' : 'requests'))
      else if (input === '?' || input === 'h') setHelp((h) => !h)
      else if (key.escape) setHelp(false)
    },
    // Raw mode throws without a TTY (cron, pipes): only listen when it is supported.
    {isActive: inputActive ?? isRawModeSupported},
  )

  useEffect(() => {
    if (paused) return
    let alive = true
    let timer: NodeJS.Timeout | undefined
    // setTimeout after each answer (not setInterval): a slow daemon never gets overlapping polls.
    const poll = async (): Promise<void> => {
      try {
        const s = await source()
        if (!alive) return
        previous.current = latest.current
        latest.current = s
        setSnap(s)
        setError(null)
        setLastOkAt(Date.now())
      } catch (error_) {
        if (!alive) return
        setError(errorText(error_))
      }
      setAttempts((n) => n + 1)
      timer = setTimeout(poll, intervalMs)
    }
    if (skipFirstPoll.current) {
      skipFirstPoll.current = false
      timer = setTimeout(poll, intervalMs)
    } else void poll()
    return () => {
      alive = false
      clearTimeout(timer)
    }
  }, [source, intervalMs, paused])

  const stale = error !== null
  const width = Math.max(40, columns)

  const errorLine =
    error === null ? null : (
      <Text color="red" bold wrap="truncate-end">
        daemon unreachable: {error} — retrying every {formatInterval(intervalMs)}
      </Text>
    )

  if (!snap) {
    return (
      <Box flexDirection="column" width={width}>
        <Text bold>tavern top</Text>
        {errorLine ?? <Text dimColor>waiting for the daemon…</Text>}
        <Text dimColor>q quit · ? help</Text>
      </Box>
    )
  }

  const h = headerParts(snap)
  const big = bigNumbers(snap)
  const origin = originParts(snap)
  const client = latencyParts(snap.latency.client)
  const ttfb = latencyParts(snap.latency.originTtfb)
  const storage = storageParts(snap)

  // Vertical budget: the cluster panel (only in a cluster) first, then a braille chart for req/s when the terminal
  // is tall, and the rest to the table.
  const peers = peerRows(snap, previous.current)
  const rowsLeft = Math.max(0, rows - FIXED_ROWS - SLACK_ROWS - (errorLine ? 1 : 0))
  const peerFit = peers ? fitPeerRows(peers, Math.max(1, Math.floor(rowsLeft / 2) - 2)) : null
  const free = Math.max(0, rowsLeft - (peerFit ? PEER_PANEL_ROWS + peerFit.shown.length + (peerFit.hidden > 0 ? 1 : 0) : 0))
  const chartRows = free >= 14 ? Math.min(8, Math.floor((free - 6) / 2)) : 0
  const keyRows = Math.max(3, free - (chartRows > 0 ? chartRows - 1 : 0))

  // Horizontal budget: label (7) + sparkline + range label (13).
  const sparkWidth = Math.max(10, width - 7 - 13)
  const reqSeries = snap.series.requestsPerSec
  const reqRange = seriesRange(reqSeries, chartRows > 0 ? sparkWidth * 2 : sparkWidth)
  const hitRange = seriesRange(snap.series.hitRatio, sparkWidth)

  const ageSec = lastOkAt === null ? 0 : Math.round((Date.now() - lastOkAt) / 1000)
  const state = paused ? 'paused' : stale ? `STALE ${ageSec}s` : `every ${formatInterval(intervalMs)}`

  // Table columns: key gets what the numbers leave.
  const numW = {req: 7, rate: 7, bytes: 10}
  const keyW = Math.max(16, width - numW.req - numW.rate - numW.bytes - 3)
  const rowsData = topKeyRows(snap, sort, keyRows)
  const mark = (k: SortKey) => (sort === k ? '▼' : ' ')

  const peerPanel =
    peerFit && snap.cluster ? <PeerPanel fit={peerFit} width={width} total={snap.cluster.peers.length} fallbacks={snap.cluster.fallbacks} stale={stale} /> : null

  const upstreamLine = (
    <Line>
      <Text>upstreams</Text>
      {snap.upstreams.length === 0 ? <Text dimColor> none reported</Text> : null}
      {snap.upstreams.map((u) => (
        <Text key={u.name}>
          {' '}
          <V color={u.healthy ? 'green' : 'red'}>{u.healthy ? '●' : '✖'}</V> {u.name}
          {u.healthy ? ` ${formatCount(u.inFlight)} in flight` : ` DOWN (${formatCount(u.failures)} failures)`}
          {u.breaker && u.breaker.state !== 'closed' ? <V color={u.breaker.state === 'open' ? 'red' : 'yellow'}>{` breaker ${u.breaker.state}`}</V> : null}
          {u.ejected ? <V color="red"> ejected</V> : null}
        </Text>
      ))}
    </Line>
  )

  return (
    <StaleContext.Provider value={stale}>
      <Box flexDirection="column" width={width}>
        <Box justifyContent="space-between">
          <Line>
            <V color="cyan">{h.title}</V> {h.pid} · {h.uptime} · {h.listeners}
          </Line>
          <Text color={paused ? 'yellow' : stale ? 'red' : 'gray'} wrap="truncate">
            {' '}
            [{state}]
          </Text>
        </Box>
        {errorLine}
        <Line>
          req/s <V color="cyan">{big.reqPerSec}</V> · hit <V color={ratioColor(snap.rates.hitRatio)}>{big.hit}</V> · byte hit{' '}
          <V color={ratioColor(snap.rates.byteHitRatio)}>{big.byteHit}</V> · in flight <V>{big.inFlight}</V>
        </Line>
        <Line>
          to clients <V color="magenta">{big.out}</V> · from origin <V color="magenta">{big.in}</V> · origin req/s <V>{big.originReqPerSec}</V> · 5xx{' '}
          <V color={origin.answered5xx > 0 ? 'red' : undefined}>{formatCount(origin.answered5xx)}</V> · no answer{' '}
          <V color={origin.noAnswer > 0 ? 'red' : undefined}>{formatCount(origin.noAnswer)}</V>
        </Line>
        {chartRows > 0 ? (
          brailleChart(reqSeries, sparkWidth, chartRows).map((l, i) => (
            <Line key={`c${i}`}>
              {i === 0 ? 'req/s  ' : '       '}
              <Text color={stale ? undefined : 'cyan'}>{l}</Text>
              {i === 0 ? ` max ${formatRate(reqRange.max)}` : ''}
            </Line>
          ))
        ) : (
          <Line>
            {'req/s  '}
            <Text color={stale ? undefined : 'cyan'}>{sparkline(reqSeries, sparkWidth)}</Text> max {formatRate(reqRange.max)}
          </Line>
        )}
        <Line>
          {'hit %  '}
          <Text color={stale ? undefined : 'green'}>{sparkline(snap.series.hitRatio, sparkWidth, {min: 0, max: 1})}</Text> min{' '}
          {formatPercent(hitRange.min, 0)}
        </Line>
        <Line>
          {width >= 84 ? 'latency' : 'lat'} p50 <V>{client.p50}</V> p95 <V>{client.p95}</V> p99 <V color="yellow">{client.p99}</V> │ ttfb p50 <V>{ttfb.p50}</V> p95{' '}
          <V>{ttfb.p95}</V> p99 <V>{ttfb.p99}</V>
        </Line>
        <Line>
          status
          {statusShares(snap)
            .filter((c) => c.label !== '1xx' || c.count > 0)
            .map((c) => (
            <Text key={c.label}>
              {' '}
              {c.label} <V color={c.label === '5xx' && c.count > 0 ? 'red' : undefined}>{c.share}</V>
            </Text>
            ))}
          {' '}│ collapsed <V>{formatCount(snap.requests.collapsed)}</V> · fills <V>{formatCount(snap.fills.inFlight)}</V>
        </Line>
        {help ? (
          <Box flexDirection="column" height={keyRows + 2}>
            <Text bold>help</Text>
            <Text>  q  quit            p  pause / resume polling</Text>
            <Text>  s  sort top keys by requests or bytes    ?  toggle this help</Text>
            <Text wrap="truncate-end">  rates and hit ratios: last {snap.rates.windowSec}s · latency and top keys: last {snap.topKeys.windowSec}s</Text>
            <Text wrap="truncate-end">  hit = answered from cache (hit, stale, revalidated) / all requests but bypass</Text>
            <Text wrap="truncate-end">  ~ marks estimated top-key counts (bounded sketch)</Text>
            {snap.cluster ? (
              <Text wrap="truncate-end">  cluster: SHARE of the keys a peer serves now · OUT/S forwarded to it (it owns the key) · IN/S served for it · per second between the last two polls</Text>
            ) : null}
          </Box>
        ) : (
          <Box flexDirection="column" height={keyRows + 2}>
            <Line>
              <V>top keys by {sort}</V> (last {snap.topKeys.windowSec}s) <Text dimColor>s: sort</Text>
            </Line>
            <Text dimColor wrap="truncate-end">
              {padRight('KEY', keyW)} {padLeft(`${mark('requests')}REQ`, numW.req)} {padLeft('REQ/S', numW.rate)} {padLeft(`${mark('bytes')}BYTES`, numW.bytes)}
            </Text>
            {rowsData.length === 0 ? <Text dimColor>no requests in the window</Text> : null}
            {rowsData.map((r) => (
              <Line key={r.key}>
                {padRight(truncateMiddle(r.key, keyW), keyW)} {padLeft(`${r.approx ? '~' : ''}${r.requests}`, numW.req)} {padLeft(r.perSec, numW.rate)}{' '}
                {padLeft(r.bytes, numW.bytes)}
              </Line>
            ))}
          </Box>
        )}
        {peerPanel}
        <Line>
          storage {storage ? storage.join(' · ') : <Text dimColor>not reported</Text>}
        </Line>
        {upstreamLine}
        <Text dimColor wrap="truncate-end">
          q quit · p {paused ? 'resume' : 'pause'} · s sort ({sort}) · ? help
        </Text>
      </Box>
    </StaleContext.Provider>
  )
}
