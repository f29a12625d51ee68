// @ts-check
/**
 * The tavern web dashboard: renders the snapshots of `GET /dashboard/events` (Server-Sent Events; the same snapshot
 * `tavern top` and `GET /stats` show). Plain ES module, no build step, no dependencies: the charts are a few SVG
 * paths. Every value goes in with textContent (top keys are client-chosen URLs: never HTML).
 *
 * The formatters below produce exactly the strings of src/tui/format.ts, so the page and `tavern top` agree to the
 * character (test/dashboard/page-format.test.ts checks that).
 */

/** @typedef {import('../../src/dashboard/snapshot.js').DashboardSnapshot} Snapshot */
/** @typedef {import('../../src/dashboard/snapshot.js').DashboardUpstream} Upstream */
/** @typedef {import('../../src/dashboard/snapshot.js').SiteRates} SiteRates */
/** @typedef {import('../../src/stats/schema.js').TopKey} TopKey */
/** @typedef {import('../../src/stats/schema.js').LatencySummary} LatencySummary */

const DASH = '—'
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** @param {number | null | undefined} n @returns {string} */
export function formatBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH
  if (n < 0) return `-${formatBytes(-n)}`
  if (n < 1024) return `${Math.round(n)} B`
  let v = n
  let u = 0
  while (v >= 999.5 && u < BYTE_UNITS.length - 1) {
    v /= 1024
    u++
  }
  return `${sig3(v)} ${BYTE_UNITS[u]}`
}

/** @param {number | null | undefined} n */
export function formatCount(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH
  const a = Math.abs(n)
  if (a < 1000) return Number.isInteger(n) ? String(n) : a < 10 ? n.toFixed(1) : String(Math.round(n))
  /** @type {Array<[number, string]>} */
  const units = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ]
  for (const [base, suffix] of units) {
    if (a >= base * 0.9995) return `${sig3(n / base)}${suffix}`
  }
  return String(n)
}

/** @param {number | null | undefined} n */
export function formatRate(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH
  if (n === 0) return '0'
  if (Math.abs(n) < 9.95) return n.toFixed(1)
  return formatCount(Math.round(n))
}

/** @param {number | null | undefined} ratio @param {number} [digits] */
export function formatPercent(ratio, digits = 1) {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return DASH
  return `${(ratio * 100).toFixed(digits)}%`
}

/** @param {number | null | undefined} ms */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH
  if (ms < 0.9995) return `${Math.round(ms * 1000)}µs`
  if (ms < 9.995) return `${ms.toFixed(2)}ms`
  if (ms < 99.95) return `${ms.toFixed(1)}ms`
  if (ms < 999.5) return `${Math.round(ms)}ms`
  if (ms < 59_950) return `${(ms / 1000).toFixed(ms < 9995 ? 2 : 1)}s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}

/** @param {number | null | undefined} sec */
export function formatUptime(sec) {
  if (sec === null || sec === undefined || !Number.isFinite(sec) || sec < 0) return DASH
  const s = Math.floor(sec)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${pad2(s % 60)}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad2(Math.floor((s % 3600) / 60))}m`
  return `${Math.floor(s / 86_400)}d${pad2(Math.floor((s % 86_400) / 3600))}h`
}

/** @param {number} n */
function pad2(n) {
  return String(n).padStart(2, '0')
}

/** @param {number} v */
function sig3(v) {
  const a = Math.abs(v)
  if (a >= 100) return String(Math.round(v))
  if (a >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

/**
 * Per-second rate of a cumulative counter between two snapshots (null without a previous one or after a restart).
 * @param {number} now @param {number | undefined} before @param {number} dtMs
 */
export function deltaRate(now, before, dtMs) {
  if (before === undefined || dtMs <= 0 || now < before) return null
  return ((now - before) * 1000) / dtMs
}

/**
 * SVG path data for one series in a W×H box (y grows downwards), newest point at the right edge; nulls leave gaps.
 * @param {ReadonlyArray<number | null>} values @param {number} capacity points across the width
 * @param {number} max top of the scale @param {number} W @param {number} H
 */
export function seriesPath(values, capacity, max, W, H) {
  const vs = values.slice(-capacity)
  const step = capacity > 1 ? W / (capacity - 1) : 0
  const offset = capacity - vs.length
  let d = ''
  let pen = false
  for (let i = 0; i < vs.length; i++) {
    const v = vs[i]
    if (v === null || v === undefined || !Number.isFinite(v)) {
      pen = false
      continue
    }
    const x = (offset + i) * step
    const f = max > 0 ? Math.max(0, Math.min(1, v / max)) : 0
    const y = H - f * H
    d += `${pen ? 'L' : 'M'}${round2(x)} ${round2(y)}`
    pen = true
  }
  return d
}

/** @param {number} v */
function round2(v) {
  return Math.round(v * 100) / 100
}

/** A scale top a little above the peak, so the line does not hug the frame. @param {ReadonlyArray<number | null>} values */
export function niceMax(values) {
  let m = 0
  for (const v of values) if (v !== null && Number.isFinite(v) && v > m) m = v
  if (m <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(m))
  // m·1.05 can reach past the decade (97 → 101.85), so the steps go beyond 10.
  for (const k of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 15]) if (k * p >= m * 1.05) return k * p
  return 20 * p
}

// ————————————————————————————————————————————————— the page —————————————————————————————————————————————————

/** Seconds shown in the charts. */
const WINDOW = 120
const STALE_MS = 3000
const STATUS_CLASSES = /** @type {const} */ (['1xx', '2xx', '3xx', '4xx', '5xx'])
const OUTCOMES = /** @type {const} */ (['hit', 'stale', 'revalidated', 'miss', 'bypass', 'error'])
const SVG_NS = 'http://www.w3.org/2000/svg'

if (typeof document !== 'undefined') start()

function start() {
  const pageStart = Date.now()
  /** @param {string} id */
  const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id))
  /** @type {Map<string, HTMLElement>} */
  const metrics = new Map()
  for (const el of document.querySelectorAll('[data-metric]')) metrics.set(/** @type {HTMLElement} */ (el).dataset.metric ?? '', /** @type {HTMLElement} */ (el))

  const state = {
    /** @type {Snapshot | undefined} */ last: undefined,
    /** @type {Snapshot | undefined} */ prev: undefined,
    lastSeq: /** @type {string | undefined} */ (undefined),
    lastEventAt: 0,
    streamOk: false,
    /** @type {string | undefined} */ daemonError: undefined,
    paused: false,
    stale: false,
    sort: /** @type {'requests' | 'bytes'} */ ('requests'),
    keysLimit: 10,
    /** Client latency percentiles per snapshot (the snapshot has no latency series). */
    lat: {p50: /** @type {Array<number | null>} */ ([]), p95: /** @type {Array<number | null>} */ ([]), p99: /** @type {Array<number | null>} */ ([])},
    /** @type {EventSource | undefined} */ es: undefined,
    retryDelay: 1000,
    /** @type {ReturnType<typeof setTimeout> | undefined} */ reconnectTimer: undefined,
    loginShown: false,
  }

  /** @param {string} name @param {string} text @param {number | null} [raw] */
  function setMetric(name, text, raw) {
    const el = metrics.get(name)
    if (!el) return
    if (el.textContent !== text) el.textContent = text
    if (raw !== undefined) el.dataset.value = raw === null ? '' : String(raw)
  }

  // ——— connection ———

  function connect() {
    clearTimeout(state.reconnectTimer)
    state.es?.close()
    const url = state.lastSeq === undefined ? 'events' : `events?lastEventId=${encodeURIComponent(state.lastSeq)}`
    const es = new EventSource(url)
    state.es = es
    setConn('connecting', 'connecting…')
    es.addEventListener('open', () => {
      state.streamOk = true
      state.retryDelay = 1000
      if (!state.last) setConn('connecting', 'waiting for data…')
    })
    es.addEventListener('snapshot', (ev) => {
      const m = /** @type {MessageEvent<string>} */ (ev)
      /** @type {Snapshot} */
      let snap
      try {
        snap = JSON.parse(m.data)
      } catch {
        return
      }
      state.streamOk = true
      state.daemonError = undefined
      state.lastEventAt = Date.now()
      state.lastSeq = m.lastEventId || state.lastSeq
      receive(snap)
    })
    es.addEventListener('daemon-error', (ev) => {
      try {
        state.daemonError = String(JSON.parse(/** @type {MessageEvent<string>} */ (ev).data).message)
      } catch {
        state.daemonError = 'the daemon did not answer'
      }
      checkStale()
    })
    es.addEventListener('error', () => {
      state.streamOk = false
      checkStale()
      // CONNECTING: the browser retries by itself (after the server's `retry:`). CLOSED: it gave up (an HTTP error
      // such as 401 or 503): find out why and start over ourselves.
      if (es.readyState === EventSource.CLOSED) void recover()
    })
  }

  async function recover() {
    state.es?.close()
    state.es = undefined
    let status = 0
    try {
      status = (await fetch('auth', {cache: 'no-store', credentials: 'same-origin'})).status
    } catch {
      status = 0 // unreachable: retry below
    }
    if (status === 401) {
      showLogin()
      return
    }
    if (status === 403) setConn('error', 'refused (host not allowed)')
    const delay = state.retryDelay
    state.retryDelay = Math.min(state.retryDelay * 2, 15_000)
    state.reconnectTimer = setTimeout(connect, delay)
  }

  /** @param {'live' | 'connecting' | 'stale' | 'paused' | 'error' | 'login'} s @param {string} text */
  function setConn(s, text) {
    const el = byId('conn')
    el.dataset.state = s
    if (el.textContent !== text) el.textContent = text
    document.body.dataset.state = s
  }

  // ——— staleness ———

  function checkStale() {
    // Before the first snapshot, the page's own start is the reference: no banner flashes while the stream opens.
    const age = Date.now() - (state.lastEventAt || pageStart)
    const stale = !state.loginShown && (age > STALE_MS || (!state.streamOk && state.last !== undefined) || state.daemonError !== undefined)
    const banner = byId('stale')
    const text = byId('stale-text')
    if (stale) {
      const ago = state.lastEventAt === 0 ? 'never' : `${Math.max(0, Math.round(age / 1000))}s ago`
      const why = state.daemonError ? ` (${state.daemonError})` : state.streamOk ? '' : ' — reconnecting'
      const line = state.last ? `stale — last update ${ago}${why}` : `no data yet${why || ' — waiting for the daemon'}`
      if (text.textContent !== line) text.textContent = line
      if (banner.hidden) banner.hidden = false
      if (!state.stale) {
        state.stale = true
        const at = state.lastEventAt === 0 ? '' : ` since ${new Date(state.lastEventAt).toLocaleTimeString()}`
        announce(state.last ? `Data is stale: no update${at}.` : 'No data from the daemon yet.')
      }
      setConn('stale', state.last ? 'stale' : 'no data')
    } else {
      if (!banner.hidden) banner.hidden = true
      if (state.stale) {
        state.stale = false
        announce('Live again.')
      }
      if (state.loginShown) setConn('login', 'sign-in needed')
      else if (state.paused) setConn('paused', 'paused')
      else if (state.last) setConn('live', 'live')
    }
  }

  /** @param {string} text */
  function announce(text) {
    byId('announce').textContent = text
  }

  // ——— login ———

  function showLogin() {
    state.loginShown = true
    const form = /** @type {HTMLFormElement} */ (byId('login'))
    form.hidden = false
    setConn('login', 'sign-in needed')
    byId('stale').hidden = true
    byId('token').focus()
  }

  byId('login').addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const input = /** @type {HTMLInputElement} */ (byId('token'))
    const err = byId('login-error')
    err.textContent = ''
    let status = 0
    try {
      const r = await fetch('login', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({token: input.value}), credentials: 'same-origin'})
      status = r.status
    } catch {
      err.textContent = 'The daemon cannot be reached.'
      return
    }
    if (status !== 204) {
      err.textContent = status === 401 ? 'That token is not right.' : `Sign-in failed (HTTP ${status}).`
      input.select()
      return
    }
    input.value = ''
    state.loginShown = false
    byId('login').hidden = true
    byId('main').focus()
    connect()
  })

  // ——— controls ———

  const pause = byId('pause')
  pause.addEventListener('click', () => {
    state.paused = !state.paused
    pause.setAttribute('aria-pressed', String(state.paused))
    pause.textContent = state.paused ? 'Resume' : 'Pause'
    if (!state.paused && state.last) render(state.last, state.prev)
    checkStale()
  })

  for (const b of document.querySelectorAll('[data-sort]')) {
    const button = /** @type {HTMLButtonElement} */ (b)
    button.addEventListener('click', () => {
      state.sort = button.dataset.sort === 'bytes' ? 'bytes' : 'requests'
      for (const o of document.querySelectorAll('[data-sort]')) o.setAttribute('aria-pressed', String(o === button))
      if (state.last) renderTopKeys(state.last)
    })
  }
  const more = byId('keys-more')
  more.addEventListener('click', () => {
    state.keysLimit = state.keysLimit === 10 ? 20 : 10
    more.setAttribute('aria-expanded', String(state.keysLimit === 20))
    more.textContent = state.keysLimit === 20 ? 'show 10' : 'show 20'
    if (state.last) renderTopKeys(state.last)
  })

  // ——— data ———

  /** @param {Snapshot} snap */
  function receive(snap) {
    const prev = state.last
    // A restarted daemon (or a counter reset) starts the client-side history over.
    const restarted = prev !== undefined && (prev.startedAt !== snap.startedAt || snap.requests.total < prev.requests.total)
    if (restarted) for (const k of /** @type {const} */ (['p50', 'p95', 'p99'])) state.lat[k].length = 0
    state.prev = restarted ? undefined : prev
    state.last = snap
    const l = snap.latency.client
    state.lat.p50.push(l.p50Ms)
    state.lat.p95.push(l.p95Ms)
    state.lat.p99.push(l.p99Ms)
    for (const k of /** @type {const} */ (['p50', 'p95', 'p99'])) if (state.lat[k].length > WINDOW) state.lat[k].splice(0, state.lat[k].length - WINDOW)
    checkStale()
    if (!state.paused) render(snap, state.prev)
  }

  /** @param {Snapshot} s @param {Snapshot | undefined} prev */
  function render(s, prev) {
    document.title = `tavern ${formatRate(s.rates.requestsPerSec)} req/s · ${formatPercent(s.rates.hitRatio)} hit`
    byId('title').textContent = s.version ? `tavern ${s.version}` : 'tavern'
    byId('meta-pid').textContent = s.pid === undefined ? '' : `pid ${s.pid}`
    byId('meta-uptime').textContent = `up ${formatUptime(s.uptimeSec)}`
    byId('meta-listeners').textContent = s.listeners && s.listeners.length > 0 ? s.listeners.join(' ') : ''

    setMetric('req-per-sec', formatRate(s.rates.requestsPerSec), s.rates.requestsPerSec)
    setMetric('requests-total', formatCount(s.requests.total), s.requests.total)
    setMetric('hit-ratio', formatPercent(s.rates.hitRatio), s.rates.hitRatio)
    setMetric('hit-ratio-total', formatPercent(s.requests.hitRatio), s.requests.hitRatio)
    setMetric('byte-hit-ratio', formatPercent(s.rates.byteHitRatio), s.rates.byteHitRatio)
    setMetric('byte-hit-ratio-total', formatPercent(s.requests.byteHitRatio), s.requests.byteHitRatio)
    setMetric('bytes-out-per-sec', `${formatBytes(s.rates.bytesOutPerSec)}/s`, s.rates.bytesOutPerSec)
    setMetric('bytes-out-total', formatBytes(s.requests.bytesOut), s.requests.bytesOut)
    setMetric('bytes-in-per-sec', `${formatBytes(s.rates.bytesInPerSec)}/s`, s.rates.bytesInPerSec)
    setMetric('origin-req-per-sec', formatRate(s.rates.originRequestsPerSec), s.rates.originRequestsPerSec)
    setMetric('in-flight', formatCount(s.requests.inFlight), s.requests.inFlight)
    setMetric('fills-in-flight', formatCount(s.fills.inFlight), s.fills.inFlight)
    const dt = prev ? s.at - prev.at : 0
    const e5 = deltaRate(s.requests.statusClasses['5xx'], prev?.requests.statusClasses['5xx'], dt)
    const e4 = deltaRate(s.requests.statusClasses['4xx'], prev?.requests.statusClasses['4xx'], dt)
    setMetric('errors-per-sec', formatRate(e5), e5)
    setMetric('client-errors-per-sec', formatRate(e4), e4)

    latencyRow('client', s.latency.client)
    latencyRow('origin', s.latency.originTtfb)
    byId('latency-window').textContent = `last ${s.latency.windowSec} s`

    renderCharts(s)
    renderStatus(s)
    renderTopKeys(s)
    renderUpstreams(s)
    renderSites(s)
    renderStorage(s)

    setMetric('origin-requests', formatCount(s.origin.requests), s.origin.requests)
    setMetric('origin-errors', formatCount(s.origin.errors), s.origin.errors)
    const le = s.origin.lastError
    setMetric('origin-last-error', le ? `${le.message} (${new Date(le.at).toLocaleTimeString()})` : DASH)
    setMetric('fills-started', formatCount(s.fills.started), s.fills.started)
    setMetric('fills-result', `${formatCount(s.fills.stored)} / ${formatCount(s.fills.aborted)}`)
    setMetric('collapsed', formatCount(s.requests.collapsed), s.requests.collapsed)

    const problems = byId('probe-errors')
    problems.hidden = s.probeErrors.length === 0
    replaceChildren(/** @type {HTMLElement} */ (problems.querySelector('ul')), s.probeErrors.map((p) => el('li', p)))

    const foot = byId('foot-seq')
    foot.textContent = `snapshot #${state.lastSeq ?? '?'} at ${new Date(s.at).toLocaleTimeString()}`
    document.body.dataset.seq = state.lastSeq ?? ''
  }

  /** @param {'client' | 'origin'} name @param {LatencySummary} l */
  function latencyRow(name, l) {
    setMetric(`latency-${name}-p50`, formatDuration(l.p50Ms), l.p50Ms)
    setMetric(`latency-${name}-p95`, formatDuration(l.p95Ms), l.p95Ms)
    setMetric(`latency-${name}-p99`, formatDuration(l.p99Ms), l.p99Ms)
    setMetric(`latency-${name}-max`, formatDuration(l.maxMs), l.maxMs)
  }

  /** @param {Snapshot} s */
  function renderCharts(s) {
    const rps = s.series.requestsPerSec.slice(-WINDOW)
    const rpsMax = niceMax(rps)
    chart('chart-rps', [rps], rpsMax, `peak ${formatRate(Math.max(0, ...rps))}/s`, `Requests per second over the last ${WINDOW} seconds: now ${formatRate(s.rates.requestsPerSec)}, peak ${formatRate(Math.max(0, ...rps))}.`)
    chart('chart-hit', [s.series.hitRatio.slice(-WINDOW), s.series.byteHitRatio.slice(-WINDOW)], 1, '0–100%', `Hit ratio over the last ${WINDOW} seconds: now ${formatPercent(s.rates.hitRatio)} by requests, ${formatPercent(s.rates.byteHitRatio)} by bytes.`)
    const out = s.series.bytesOutPerSec.slice(-WINDOW)
    const inn = s.series.bytesInPerSec.slice(-WINDOW)
    const bwMax = niceMax([...out, ...inn])
    chart('chart-bw', [out, inn], bwMax, `scale ${formatBytes(bwMax)}/s`, `Bandwidth over the last ${WINDOW} seconds: ${formatBytes(s.rates.bytesOutPerSec)}/s to clients, ${formatBytes(s.rates.bytesInPerSec)}/s from origins.`)
    const latMax = niceMax([...state.lat.p50, ...state.lat.p95, ...state.lat.p99])
    const l = s.latency.client
    chart('chart-lat', [state.lat.p50, state.lat.p95, state.lat.p99], latMax, `scale ${formatDuration(latMax)}`, `Client latency since this page opened: p50 ${formatDuration(l.p50Ms)}, p95 ${formatDuration(l.p95Ms)}, p99 ${formatDuration(l.p99Ms)}.`)
  }

  /**
   * @param {string} id @param {Array<ReadonlyArray<number | null>>} series @param {number} max
   * @param {string} peak @param {string} label
   */
  function chart(id, series, max, peak, label) {
    const fig = byId(id)
    const svg = /** @type {SVGSVGElement} */ (fig.querySelector('svg'))
    const W = WINDOW - 1
    const H = 40
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`)
    const title = /** @type {SVGTitleElement} */ (svg.querySelector('title') ?? svg.appendChild(document.createElementNS(SVG_NS, 'title')))
    if (title.textContent !== label) title.textContent = label
    const peakEl = /** @type {HTMLElement} */ (fig.querySelector('[data-peak]'))
    if (peakEl.textContent !== peak) peakEl.textContent = peak
    /** @type {SVGPathElement[]} */
    const paths = []
    for (let i = 0; i < series.length; i++) {
      let p = /** @type {SVGPathElement | null} */ (svg.querySelector(`path.s${i}`))
      if (!p) {
        p = /** @type {SVGPathElement} */ (document.createElementNS(SVG_NS, 'path'))
        p.setAttribute('class', `line s${i}`)
        svg.appendChild(p)
      }
      paths.push(p)
      p.setAttribute('d', seriesPath(series[i] ?? [], WINDOW, max, W, H) || 'M0 0')
      p.classList.toggle('empty', !(series[i] ?? []).some((v) => v !== null))
    }
    let grid = svg.querySelector('path.grid')
    if (!grid) {
      grid = document.createElementNS(SVG_NS, 'path')
      grid.setAttribute('class', 'grid')
      grid.setAttribute('d', `M0 ${H / 2}H${W}M0 ${H}H${W}`)
      svg.insertBefore(grid, svg.firstChild?.nextSibling ?? null)
    }
  }

  /** @param {Snapshot} s */
  function renderStatus(s) {
    let total = 0
    for (const c of STATUS_CLASSES) total += s.requests.statusClasses[c] ?? 0
    const rows = STATUS_CLASSES.map((c) => {
      const n = s.requests.statusClasses[c] ?? 0
      const share = total > 0 ? n / total : 0
      const bar = el('span', '')
      bar.className = `bar c${c[0]}`
      bar.style.width = `${(share * 100).toFixed(1)}%`
      const track = el('span', '')
      track.className = 'track'
      track.setAttribute('aria-hidden', 'true')
      track.appendChild(bar)
      const barCell = el('td', '')
      barCell.className = 'bar-col'
      barCell.append(track)
      const tr = el('tr', '')
      tr.dataset.class = c
      tr.append(el('th', c, {scope: 'row'}), barCell, el('td', total > 0 ? formatPercent(share) : DASH), el('td', formatCount(n), {'data-value': String(n)}))
      return tr
    })
    replaceChildren(/** @type {HTMLElement} */ (document.querySelector('#status-classes tbody')), rows)
    const outcomes = OUTCOMES.map((o) => {
      const tr = el('tr', '')
      tr.dataset.outcome = o
      tr.append(el('th', o, {scope: 'row'}), el('td', formatCount(s.requests.byOutcome[o]), {'data-value': String(s.requests.byOutcome[o])}), el('td', formatBytes(s.requests.bytesByOutcome[o])))
      return tr
    })
    replaceChildren(/** @type {HTMLElement} */ (document.querySelector('#outcomes tbody')), outcomes)
  }

  /** @param {Snapshot} s */
  function renderTopKeys(s) {
    /** @type {TopKey[]} */
    const list = state.sort === 'bytes' ? s.topKeys.byBytes : s.topKeys.byRequests
    const win = s.topKeys.windowSec > 0 ? s.topKeys.windowSec : 60
    byId('keys-window').textContent = `last ${win} s`
    const rows = list.slice(0, state.keysLimit).map((k) => {
      const approx = k.error > 0 ? '≈' : ''
      const tr = el('tr', '')
      const key = el('td', k.key, {title: k.key})
      key.className = 'key'
      tr.append(key, el('td', `${approx}${formatCount(k.requests)}`), el('td', formatRate(k.requests / win)), el('td', formatBytes(k.bytes)))
      return tr
    })
    if (rows.length === 0) {
      const td = el('td', 'no keys in the window', {colspan: '4'})
      td.className = 'hint'
      const tr = el('tr', '')
      tr.append(td)
      rows.push(tr)
    }
    replaceChildren(/** @type {HTMLElement} */ (document.querySelector('#top-keys tbody')), rows)
  }

  /** @param {Snapshot} s */
  function renderUpstreams(s) {
    const ups = s.upstreams ?? []
    const breakers = ups.some((u) => u.breaker !== undefined)
    for (const th of document.querySelectorAll('#upstreams [data-col="breaker"]')) /** @type {HTMLElement} */ (th).hidden = !breakers
    byId('upstreams-empty').hidden = ups.length > 0
    const rows = ups.map((u) => {
      const tr = el('tr', '')
      tr.dataset.upstream = u.name
      const health = el('td', u.healthy ? '● healthy' : '▲ down')
      health.className = u.healthy ? 'ok' : 'bad'
      const name = el('th', '', {scope: 'row'})
      name.className = 'key'
      const url = el('span', u.url)
      url.className = 'url'
      name.append(el('span', u.name), url)
      tr.append(name, health)
      if (breakers) {
        const st = u.breaker?.state
        const b = el('td', st ?? DASH)
        b.className = st === 'open' ? 'bad' : st === 'half-open' ? 'warn' : st === 'closed' ? 'ok' : ''
        tr.append(b)
      }
      tr.append(el('td', formatCount(u.inFlight)), el('td', formatCount(u.failures)))
      return tr
    })
    replaceChildren(/** @type {HTMLElement} */ (document.querySelector('#upstreams tbody')), rows)
  }

  /** @param {Snapshot} s */
  function renderSites(s) {
    const panel = byId('sites-panel')
    const sites = normaliseSites(s.sites)
    panel.hidden = sites === undefined
    if (!sites) return
    const rows = sites.map((site) => {
      const tr = el('tr', '')
      tr.dataset.site = site.name
      const name = el('th', site.name, {scope: 'row', title: site.name})
      name.className = 'key'
      tr.append(name, el('td', formatRate(site.requestsPerSec)), el('td', formatPercent(site.hitRatio)), el('td', `${formatBytes(site.bytesOutPerSec)}/s`), el('td', formatRate(site.errorsPerSec)))
      return tr
    })
    replaceChildren(/** @type {HTMLElement} */ (document.querySelector('#sites tbody')), rows)
  }

  /** @param {Snapshot} s */
  function renderStorage(s) {
    const st = s.storage
    setMetric('storage-objects', st ? formatCount(st.objects) : DASH, st ? st.objects : null)
    setMetric('storage-disk', st ? formatBytes(st.diskBytes) : DASH, st ? st.diskBytes : null)
    setMetric('storage-memory', st ? `${formatBytes(st.memoryBytes)} (${formatCount(st.memoryObjects)} obj)` : DASH, st ? st.memoryBytes : null)
    setMetric('storage-evictions', st ? formatCount(st.evictions) : DASH, st ? st.evictions : null)
    setMetric('storage-expired', st ? formatCount(st.expiredRemoved) : DASH, st ? st.expiredRemoved : null)
  }

  setInterval(checkStale, 500)
  connect()
}

/**
 * Sites as a list, whether the snapshot carries an array or a name → rates map; undefined when it has none.
 * @param {unknown} sites @returns {SiteRates[] | undefined}
 */
export function normaliseSites(sites) {
  if (sites === undefined || sites === null || typeof sites !== 'object') return undefined
  const list = Array.isArray(sites) ? sites : Object.entries(sites).map(([name, v]) => ({name, ...(/** @type {object} */ (v))}))
  return list.filter((x) => x !== null && typeof x === 'object').map((x) => ({
    name: String(x.name ?? ''),
    requestsPerSec: num(x.requestsPerSec) ?? 0,
    hitRatio: num(x.hitRatio),
    bytesOutPerSec: num(x.bytesOutPerSec) ?? 0,
    errorsPerSec: num(x.errorsPerSec) ?? undefined,
  }))
}

/** @param {unknown} v */
function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {string} text @param {Record<string, string>} [attrs]
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, text, attrs) {
  const e = document.createElement(tag)
  if (text) e.textContent = text
  if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  return e
}

/** @param {HTMLElement} parent @param {Node[]} children */
function replaceChildren(parent, children) {
  parent.replaceChildren(...children)
}
