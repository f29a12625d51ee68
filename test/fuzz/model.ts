/**
 * Property-based fuzzing of the live daemon ("Hardening I"): random origin behaviours × random request sequences.
 *
 * Model: each scenario has 1–2 URLs; each URL has a list of versions the origin serves in turn (status, validators,
 * Cache-Control, Vary, body, framing, Range support). The request sequence mixes GET/HEAD/POST/PURGE, ranges,
 * conditionals, Vary-relevant headers, origin version switches and injected faults (RST before the head, RST or FIN
 * mid-body) that apply to the next origin response.
 *
 * Invariants (checked after every request, RFC 9110/9111/9112 terms):
 *   - the daemon answers (a cut message only when the origin broke a body; a 5xx only after a fault);
 *   - every complete 200 (and 404) body equals the body of one version the origin produced for that URL and the
 *     request's Vary selection; every 206 is the right slice of one version, with its complete-length;
 *   - a 304 only answers a conditional request, a 416 only a Range request;
 *   - so nothing truncated is ever served as complete;
 * and at the end of a run the daemon's open fds return to their baseline (± a margin) once idle.
 * One daemon serves all runs (fresh paths per scenario); a run that kills it fails, and the next gets a new daemon.
 */
import fs from 'node:fs'

import fc from 'fast-check'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {describeRaw, rawRequest, type RawResponse} from '../helpers/raw-client.js'
import {chunk, head, LAST_CHUNK, resp, startRawOrigin, type RawOrigin, type RawRequest, type Step} from '../helpers/raw-origin.js'

const HOST = 'fuzz.test'
const SLICE = 64 * 1024

export type Fault = 'none' | 'rst-head' | 'rst-mid' | 'fin-short'

export interface Version {
  status: 200 | 404
  etag: 'strong' | 'weak' | 'none'
  lastModified: boolean
  cacheControl: string
  vary: boolean
  size: number
  framing: 'length' | 'chunked' | 'close'
  ranges: boolean
}

export type Action =
  | {kind: 'req'; url: number; method: 'GET' | 'HEAD'; range?: string; inm?: 'current' | 'other' | '*'; ims?: boolean; lang?: 'en' | 'de'; fault: Fault}
  | {kind: 'post'; url: number}
  | {kind: 'purge'; url: number; hard: boolean}
  | {kind: 'switch'; url: number}

export interface Scenario {
  urls: Version[][]
  actions: Action[]
}

// ---- arbitraries ---------------------------------------------------------------------------------------------------

const versionArb: fc.Arbitrary<Version> = fc.record({
  status: fc.constantFrom<200 | 404>(200, 200, 200, 200, 404),
  etag: fc.constantFrom<Version['etag']>('strong', 'strong', 'weak', 'none'),
  lastModified: fc.boolean(),
  cacheControl: fc.constantFrom('max-age=3600', 'max-age=3600', 'max-age=0', 'no-cache', 'no-store', 'private', 's-maxage=60', 'max-age=1, stale-while-revalidate=30', ''),
  vary: fc.boolean(),
  size: fc.constantFrom(0, 1, 100, 5000, 70_000, 200_000),
  framing: fc.constantFrom<Version['framing']>('length', 'length', 'chunked', 'close'),
  ranges: fc.boolean(),
})

const rangeArb = fc.oneof(
  fc.tuple(fc.nat(210_000), fc.nat(150_000)).map(([a, n]) => `bytes=${a}-${a + n}`),
  fc.nat(210_000).map((a) => `bytes=${a}-`),
  fc.integer({min: 1, max: 210_000}).map((n) => `bytes=-${n}`),
  fc.constantFrom('bytes=0-0', 'bytes=0-99', `bytes=${SLICE - 1}-${SLICE}`, 'bytes=abc'),
)

function actionArb(nUrls: number): fc.Arbitrary<Action> {
  const url = fc.nat(nUrls - 1)
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record(
        {
          kind: fc.constant('req' as const),
          url,
          method: fc.constantFrom<'GET' | 'HEAD'>('GET', 'GET', 'GET', 'HEAD'),
          range: rangeArb,
          inm: fc.constantFrom<'current' | 'other' | '*'>('current', 'other', '*'),
          ims: fc.boolean(),
          lang: fc.constantFrom<'en' | 'de'>('en', 'de'),
          fault: fc.constantFrom<Fault>('none', 'none', 'none', 'none', 'none', 'none', 'rst-head', 'rst-mid', 'fin-short'),
        },
        {requiredKeys: ['kind', 'url', 'method', 'fault']},
      ),
    },
    {weight: 1, arbitrary: fc.record({kind: fc.constant('post' as const), url})},
    {weight: 1, arbitrary: fc.record({kind: fc.constant('purge' as const), url, hard: fc.boolean()})},
    {weight: 2, arbitrary: fc.record({kind: fc.constant('switch' as const), url})},
  )
}

export const scenarioArb: fc.Arbitrary<Scenario> = fc.integer({min: 1, max: 2}).chain((n) =>
  fc.record({
    urls: fc.array(fc.array(versionArb, {minLength: 1, maxLength: 3}), {minLength: n, maxLength: n}),
    actions: fc.array(actionArb(n), {minLength: 1, maxLength: 12}),
  }),
)

// ---- the origin side of a scenario ---------------------------------------------------------------------------------

function bodyOf(seed: number, v: Version, vi: number, lang: string | undefined): Buffer {
  const b = Buffer.allocUnsafe(v.size)
  for (let i = 0; i < v.size; i++) b[i] = (i * 7 + (i >> 10) * 13 + seed * 31 + vi * 101) & 0xff
  return v.vary ? Buffer.concat([b, Buffer.from(`|${lang ?? '-'}`)]) : b
}

const etagOf = (v: Version, vi: number, seed: number) => (v.etag === 'none' ? undefined : `${v.etag === 'weak' ? 'W/' : ''}"s${seed}v${vi}"`)
const lastModOf = (vi: number) => new Date(Date.UTC(2024, 0, 1 + vi)).toUTCString()

interface UrlState {
  path: string
  versions: Version[]
  current: number
  /** Every body the origin could have sent for this URL, per Vary selection ('en' | 'de' | '-'). */
  bodies(lang: string | undefined): Buffer[]
  /** Lengths of every version's body (all selections). */
  lengths: Set<number>
  /**
   * Close-delimited bodies the origin cut with a reset, per selection: what the daemon may have taken as complete.
   * libuv reports a RST that arrives in the same poll wakeup as the last data as a clean EOF (the POLLHUP after a
   * partial read short-circuits to EOF without reading the pending ECONNRESET), and for a body delimited by the
   * connection closing a clean EOF is the end of a complete message (RFC 9112 §8). Nothing in Node can tell the two
   * apart (seen ~1 in 20 with a 5 ms gap between write and reset, on an idle machine); such a body is what the wire
   * said, and the daemon storing it is not a fault it can avoid. Seen as a fuzz "failure" after 27,195 runs of seed
   * 1598325866 under heavy load (a 200), and after 3,109 runs of the same seed (a 404, relayed unstored).
   */
  cutClose: Map<string, Buffer[]>
}

interface OriginState {
  pendingFault: Fault
  faultsApplied: number
}

function parseRangeHeader(h: string | undefined, size: number): {start: number; end: number} | 'unsatisfiable' | undefined {
  const m = h === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(h.trim())
  if (!m || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0) return 'unsatisfiable'
    return size === 0 ? 'unsatisfiable' : {start: Math.max(0, size - n), end: size - 1}
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (m[2] !== '' && Number(m[2]) < start) return undefined
  if (start >= size) return 'unsatisfiable'
  return {start, end}
}

/** What the origin answers for one request: RFC-correct for the current version, unless a fault is pending. */
function originAnswer(u: UrlState, seed: number, os: OriginState, req: RawRequest): Step[] {
  if (req.method === 'POST') return [{write: resp(200, ['Cache-Control', 'no-store'], 'posted')}]
  const vi = u.current
  const v = u.versions[vi]!
  const lang = v.vary ? (req.header('accept-language') ?? undefined) : undefined
  const body = bodyOf(seed, v, vi, lang === 'en' || lang === 'de' ? lang : undefined)
  const etag = etagOf(v, vi, seed)
  const h: string[] = []
  if (v.cacheControl) h.push('Cache-Control', v.cacheControl)
  if (etag) h.push('ETag', etag)
  if (v.lastModified) h.push('Last-Modified', lastModOf(vi))
  if (v.vary) h.push('Vary', 'Accept-Language')
  const fault = os.pendingFault
  if (fault !== 'none') {
    os.pendingFault = 'none'
    os.faultsApplied++
    if (fault === 'rst-head') return [{reset: true}]
  }
  // Conditionals (RFC 9110 §13.1.2, §13.1.3): weak comparison for If-None-Match.
  const inm = req.header('if-none-match')
  const weakEq = (a: string, b: string) => a.replace(/^W\//, '') === b.replace(/^W\//, '')
  if (v.status === 200 && inm !== undefined) {
    if (inm.trim() === '*' || (etag && inm.split(',').some((t) => weakEq(t.trim(), etag)))) return [{write: head(304, h)}]
  } else if (v.status === 200 && v.lastModified && req.header('if-modified-since') !== undefined) {
    const ims = Date.parse(req.header('if-modified-since')!)
    if (!Number.isNaN(ims) && Date.parse(lastModOf(vi)) <= ims) return [{write: head(304, h)}]
  }
  let status: number = v.status
  let out = body
  if (v.status === 200 && v.ranges) {
    const r = parseRangeHeader(req.header('range'), body.length)
    if (r === 'unsatisfiable') return [{write: resp(416, ['Content-Range', `bytes */${body.length}`, ...h], '')}]
    if (r) {
      status = 206
      h.push('Content-Range', `bytes ${r.start}-${r.end}/${body.length}`)
      out = body.subarray(r.start, r.end + 1)
    }
  }
  const isHead = req.method === 'HEAD'
  // An empty body cannot be cut: resetting after its complete message would only poison the pooled connection for
  // the next request (a POST on it gets a 502 it may not retry, RFC 9110 §9.2.2), so the reset comes before the head.
  if ((fault === 'rst-mid' || fault === 'fin-short') && (out.length === 0 || isHeadReq(req))) return [{reset: true}]
  if (fault === 'rst-mid' || fault === 'fin-short') {
    const cut = out.subarray(0, Math.floor(out.length / 2))
    const end: Step = fault === 'rst-mid' ? {reset: true} : {end: true}
    // An empty chunk would be the last-chunk (a complete message): cut before any chunk then.
    if (v.framing === 'chunked') return [{write: Buffer.concat([head(status, [...h, 'Transfer-Encoding', 'chunked']), ...(cut.length ? [chunk(cut)] : [])])}, end]
    if (v.framing === 'close') {
      // Even an empty cut: the head alone, then a RST, can read as a complete empty body.
      const sel = lang ?? '-'
      u.cutClose.set(sel, [...(u.cutClose.get(sel) ?? []), cut])
      u.lengths.add(cut.length)
      return [{write: Buffer.concat([head(status, [...h, 'Connection', 'close']), cut])}, {reset: true}]
    }
    return [{write: Buffer.concat([head(status, [...h, 'Content-Length', String(out.length)]), cut])}, end]
  }
  if (isHead) return [{write: head(status, [...h, 'Content-Length', String(out.length)])}]
  if (v.framing === 'chunked') return [{write: Buffer.concat([head(status, [...h, 'Transfer-Encoding', 'chunked']), ...(out.length ? [chunk(out)] : []), Buffer.from(LAST_CHUNK)])}]
  if (v.framing === 'close') return [{write: Buffer.concat([head(status, [...h, 'Connection', 'close']), out])}, {end: true}]
  return [{write: resp(status, h, out)}]
}

const isHeadReq = (req: {method: string}) => req.method === 'HEAD'

// ---- the runner ----------------------------------------------------------------------------------------------------

export interface FuzzEnv {
  origin: RawOrigin
  daemon: DaemonHandle
  restarts: number
  close(): Promise<void>
}

const alive = (d: DaemonHandle) => d.process.exitCode === null && d.process.signalCode === null
const DAEMON_CONFIG = {cache: {sliceSize: SLICE}, upstream: {bodyTimeout: '2s', headersTimeout: '3s', keepAliveTimeout: '500ms'}, server: {keepAliveTimeout: '500ms'}}

export async function startFuzzEnv(): Promise<FuzzEnv> {
  const origin = await startRawOrigin()
  const daemon = await startDaemon({upstream: origin.url, config: DAEMON_CONFIG})
  const env: FuzzEnv = {
    origin,
    daemon,
    restarts: 0,
    async close() {
      if (alive(env.daemon)) await env.daemon.stop('SIGTERM', 10_000)
      await origin.close()
    },
  }
  return env
}

async function ensureDaemon(env: FuzzEnv): Promise<void> {
  if (alive(env.daemon)) {
    const p = `/fuzz-probe-${Math.random().toString(36).slice(2)}`
    env.origin.route(p, [{write: resp(200, ['Cache-Control', 'no-store'], 'ok')}])
    const r = await rawRequest(env.daemon.port, 'GET', p, ['Host', HOST], {timeoutMs: 2000})
    if (r.status === 200) return
    await env.daemon.kill9()
  }
  env.restarts++
  env.daemon = await startDaemon({upstream: env.origin.url, config: DAEMON_CONFIG})
}

let scenarioCounter = 0
const runTag = Math.random().toString(36).slice(2, 7)

class Violation extends Error {}
function check(cond: boolean, msg: string): void {
  if (!cond) throw new Violation(msg)
}

/** Run one scenario against the live daemon; throws (a Violation) when an invariant breaks. */
export async function runScenario(env: FuzzEnv, sc: Scenario): Promise<void> {
  await ensureDaemon(env)
  const seed = ++scenarioCounter
  const os: OriginState = {pendingFault: 'none', faultsApplied: 0}
  const urls: UrlState[] = sc.urls.map((versions, i) => {
    const path = `/fz-${runTag}-${seed}-${i}`
    const u: UrlState = {
      path,
      versions,
      current: 0,
      bodies: (lang) => [...versions.map((v, vi) => bodyOf(seed, v, vi, v.vary ? lang : undefined)), ...(lang ? (u.cutClose.get(lang) ?? []) : []), ...(u.cutClose.get('-') ?? [])],
      cutClose: new Map(),
      lengths: new Set(versions.flatMap((v, vi) => ['en', 'de', undefined].map((l) => bodyOf(seed, v, vi, v.vary ? l : undefined).length))),
    }
    env.origin.route(path, (req) => originAnswer(u, seed, os, req))
    return u
  })
  const d = env.daemon
  for (const [ai, a] of sc.actions.entries()) {
    const u = urls[a.url]!
    const where = `action ${ai} ${JSON.stringify(a)}`
    if (a.kind === 'switch') {
      u.current = (u.current + 1) % u.versions.length
      continue
    }
    if (a.kind === 'post') {
      const r = await rawRequest(d.port, 'POST', u.path, ['Host', HOST], {body: 'x', timeoutMs: 8000})
      check(r.status === 200 && r.body.toString() === 'posted', `${where}: POST answered ${describeRaw(r)}`)
      continue
    }
    if (a.kind === 'purge') {
      const r = await rawRequest(d.port, 'PURGE', u.path, ['Host', HOST, 'Purge-Type', a.hard ? 'file,hard' : 'file'], {timeoutMs: 8000})
      check(r.status === 200 || r.status === 404, `${where}: PURGE answered ${describeRaw(r)}`)
      continue
    }
    const headers: string[] = ['Host', HOST]
    if (a.range !== undefined) headers.push('Range', a.range)
    if (a.inm !== undefined) {
      const cur = etagOf(u.versions[u.current]!, u.current, seed)
      headers.push('If-None-Match', a.inm === '*' ? '*' : a.inm === 'current' && cur ? cur : '"nope"')
    }
    if (a.ims) headers.push('If-Modified-Since', new Date(Date.UTC(2024, 0, 1 + u.current)).toUTCString())
    if (a.lang) headers.push('Accept-Language', a.lang)
    const faultsBefore = os.faultsApplied
    if (a.fault !== 'none') os.pendingFault = a.fault
    const r: RawResponse = await rawRequest(d.port, a.method, u.path, headers, {timeoutMs: 8000})
    // A fault meant for this request that the origin never saw (the daemon answered from cache) must not hit the next one.
    os.pendingFault = 'none'
    const faulted = os.faultsApplied > faultsBefore || a.fault !== 'none'
    const msg = `${where}: ${describeRaw(r)}`
    check(!r.timedOut, `${msg}: no answer within 8 s`)
    if (!alive(d) || (r.status === 0 && !faulted)) {
      await new Promise((res) => setTimeout(res, 300))
      check(alive(d), `${msg}: THE DAEMON DIED\n--- its last log lines ---\n${d.logs().split('\n').slice(-15).join('\n')}`)
    }
    if (!r.complete) {
      // A fill broken by an earlier fault may still be shared by a later request: cut is honest then too.
      check(faulted || os.faultsApplied > 0, `${msg}: the message was cut although the origin broke nothing`)
      continue
    }
    if (r.status >= 500) {
      check(faulted || os.faultsApplied > 0, `${msg}: a 5xx although the origin never failed`)
      continue
    }
    const conditional = a.inm !== undefined || a.ims === true
    const bodies = u.bodies(a.lang)
    switch (r.status) {
      case 200:
      case 404:
        if (a.method === 'GET') check(bodies.some((b) => b.equals(r.body)), `${msg}: body (${r.body.length} bytes) is not the body of any version for this selection`)
        else {
          const cl = r.header('content-length')
          if (cl !== undefined && r.status === 200) check(u.lengths.has(Number(cl)), `${msg}: HEAD Content-Length ${cl} is no version's length`)
        }
        break
      case 206: {
        check(a.range !== undefined, `${msg}: 206 to a request without Range`)
        if (/multipart\/byteranges/i.test(r.header('content-type') ?? '')) break
        const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(r.header('content-range') ?? '')
        check(m !== null, `${msg}: 206 without a valid Content-Range`)
        const [s, e, total] = [Number(m![1]), Number(m![2]), Number(m![3])]
        if (a.method === 'GET') check(bodies.some((b) => b.length === total && b.subarray(s, e + 1).equals(r.body)), `${msg}: 206 bytes ${s}-${e}/${total} are not that slice of any version`)
        break
      }
      case 304:
        check(conditional, `${msg}: 304 to an unconditional request`)
        break
      case 416:
        check(a.range !== undefined, `${msg}: 416 to a request without Range`)
        break
      case 412:
        check(false, `${msg}: 412 although the request had no If-Match/If-Unmodified-Since`)
        break
      default:
        check(false, `${msg}: unexpected status`)
    }
  }
}

/** Open fds of a process (Linux /proc). */
export function openFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length
}

/** After idle, the daemon's fds come back to `baseline` ± `margin` (bounded wait). Returns the last count. */
export async function fdsSettle(pid: number, baseline: number, margin: number, timeoutMs = 15_000): Promise<number> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const n = openFds(pid)
    if (Math.abs(n - baseline) <= margin || Date.now() > end) return n
    await new Promise((r) => setTimeout(r, 250))
  }
}

export interface FuzzResult {
  runs: number
  seed: number
  failed: boolean
  counterexample?: string
  error?: string
  durationMs: number
  restarts: number
  fds?: {baseline: number; end: number}
}

/** Run `runs` scenarios (fast-check, shrinking on failure) against one daemon, then the fd check. */
export async function fuzz(opts: {runs: number; seed: number; log?: (s: string) => void; timeLimitMs?: number}): Promise<FuzzResult> {
  const t0 = Date.now()
  const env = await startFuzzEnv()
  try {
    await ensureDaemon(env)
    const baseline = openFds(env.daemon.pid)
    const basePid = env.daemon.pid
    let done = 0
    const out = await fc.check(
      fc.asyncProperty(scenarioArb, async (sc) => {
        await runScenario(env, sc)
        done++
        if (opts.log && done % 100 === 0) opts.log(`${done} runs, ${((Date.now() - t0) / 1000).toFixed(0)} s`)
      }),
      {numRuns: opts.runs, seed: opts.seed, ...(opts.timeLimitMs ? {interruptAfterTimeLimit: opts.timeLimitMs, markInterruptAsFailure: false} : {})},
    )
    const res: FuzzResult = {runs: out.numRuns, seed: opts.seed, failed: out.failed, durationMs: 0, restarts: env.restarts}
    if (out.failed) {
      res.counterexample = JSON.stringify(out.counterexample?.[0])
      res.error = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance)
      res.counterexample += `\n(path ${out.counterexamplePath}, shrunk ${out.numShrinks} times)`
    } else if (env.daemon.pid === basePid && alive(env.daemon)) {
      const end = await fdsSettle(env.daemon.pid, baseline, 16)
      res.fds = {baseline, end}
      if (Math.abs(end - baseline) > 16) {
        res.failed = true
        res.error = `open fds of the daemon did not return to baseline after idle: ${baseline} → ${end}`
      }
    }
    res.durationMs = Date.now() - t0
    return res
  } finally {
    await env.close()
  }
}
