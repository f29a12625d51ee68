import http from 'node:http'

import {variantSelector} from '../cache/vary.js'
import {TavernError} from '../core/errors.js'
import type {OpsServices} from '../core/services.js'
import {forwardUrlTarget, operatorCacheKey} from '../proxy/request-target.js'
import {routeTable} from '../proxy/route-table.js'
import type {RawHeaders} from '../util/raw-headers.js'
import type {NdjsonWriter} from '../admin/ndjson.js'
import type {PrefetchOutcome, PrefetchRequestBody, PrefetchResult, PrefetchStart, PrefetchSummary} from '../admin/protocol.js'

export const PREFETCH_DEFAULT_CONCURRENCY = 4
export const PREFETCH_MAX_CONCURRENCY = 32
const MAX_URLS = 100_000

interface PrefetchJob {
  urls: Array<{url: string; key: string; host: string; path: string}>
  headers: Array<[string, string]>
  force: boolean
  concurrency: number
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const FORBIDDEN = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'expect', 'keep-alive', 'te', 'trailer'])

/** Validate the request body; TavernError (a usage error) for anything malformed (before any fetch starts). */
export function parsePrefetch(d: OpsServices, body: PrefetchRequestBody): PrefetchJob {
  if (!Array.isArray(body.urls) || body.urls.length === 0 || !body.urls.every((u) => typeof u === 'string')) {
    throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', '"urls" must be a non-empty array of URL strings')
  }
  if (body.urls.length > MAX_URLS) throw new TavernError('TAVERN_ERR_TOO_MANY_URLS', `at most ${MAX_URLS} URLs per request`)
  const urls = (body.urls as string[]).map((raw) => {
    const url = raw.trim()
    const table = routeTable(d.config)
    const key = operatorCacheKey(url, d.config.cache, table, false, d.config.forwardProxy)
    if (key === undefined) throw new TavernError('TAVERN_ERR_BAD_URL', `not an absolute http(s) URL: ${JSON.stringify(raw)}`)
    const u = new URL(url)
    // A forward-proxy destination is asked for by its absolute URL, as a forward client would (the data plane
    // forwards it only when this daemon's own address is among forwardProxy.clients).
    return {url, key, host: u.host, path: forwardUrlTarget(url, table, d.config.forwardProxy) ?? `${u.pathname}${u.search}`}
  })
  const headers: Array<[string, string]> = []
  if (body.headers !== undefined && body.headers !== null) {
    if (typeof body.headers !== 'object' || Array.isArray(body.headers)) throw new TavernError('TAVERN_ERR_BAD_HEADERS', '"headers" must be an object of name → value')
    for (const [name, value] of Object.entries(body.headers as Record<string, unknown>)) {
      if (!TOKEN.test(name)) throw new TavernError('TAVERN_ERR_BAD_HEADERS', `not a header name: ${JSON.stringify(name)}`)
      if (FORBIDDEN.has(name.toLowerCase())) throw new TavernError('TAVERN_ERR_BAD_HEADERS', `header ${name} cannot be set for a prefetch`)
      const values = Array.isArray(value) ? value : [value]
      for (const v of values) {
        if (typeof v !== 'string' || /[\r\n\0]/.test(v)) throw new TavernError('TAVERN_ERR_BAD_HEADERS', `bad value for header ${name}`)
        headers.push([name, v])
      }
    }
  }
  let concurrency = PREFETCH_DEFAULT_CONCURRENCY
  if (body.concurrency !== undefined && body.concurrency !== null) {
    if (typeof body.concurrency !== 'number' || !Number.isInteger(body.concurrency) || body.concurrency < 1) {
      throw new TavernError('TAVERN_ERR_BAD_CONCURRENCY', '"concurrency" must be a positive integer')
    }
    concurrency = Math.min(body.concurrency, PREFETCH_MAX_CONCURRENCY)
  }
  return {urls, headers, force: body.force === true, concurrency}
}

/** Where to connect to reach our own data plane (a wildcard listener is reached over loopback). */
export function selfTarget(listenAddress: string): {host: string; port: number} {
  const m = /^\[(.*)\]:(\d+)$/.exec(listenAddress) ?? /^(.*):(\d+)$/.exec(listenAddress)
  if (!m) throw new Error(`cannot parse the data-plane address ${JSON.stringify(listenAddress)}`)
  let host = m[1]!
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1'
  else if (host === '::') host = '::1'
  return {host, port: Number(m[2])}
}

/** Our own member of a Cache-Status field: its flags and parameters (lenient RFC 9211 / RFC 8941 parsing). */
export function ownCacheStatus(values: readonly string[], name: string): Map<string, string | true> | undefined {
  let found: Map<string, string | true> | undefined
  for (const member of splitOutsideQuotes(values.join(','), ',')) {
    const [id, ...params] = splitOutsideQuotes(member, ';').map((s) => s.trim())
    if (!id || id.replace(/^"(.*)"$/, '$1') !== name) continue
    const m = new Map<string, string | true>()
    for (const p of params) {
      const eq = p.indexOf('=')
      if (eq < 0) m.set(p.toLowerCase(), true)
      else m.set(p.slice(0, eq).toLowerCase(), p.slice(eq + 1).replace(/^"(.*)"$/, '$1'))
    }
    found = m // the last member for our name is ours (closest to the client)
  }
  return found
}

function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === '\\' && quoted) {
      cur += c + (s[i + 1] ?? '')
      i++
      continue
    }
    if (c === '"') quoted = !quoted
    if (c === sep && !quoted) {
      out.push(cur)
      cur = ''
    } else cur += c
  }
  out.push(cur)
  return out
}

/** How a prefetch answer left the cache, from its Cache-Status. */
export function classify(status: number, cs: Map<string, string | true> | undefined): {outcome: PrefetchOutcome; error?: string} {
  if (status >= 400) return {outcome: 'failed', error: `HTTP ${status}`}
  if (!cs) return {outcome: 'failed', error: 'no Cache-Status from the cache (caching disabled?)'}
  if (cs.has('hit')) return {outcome: 'fresh'}
  if (cs.get('fwd-status') === '304') return {outcome: 'revalidated'}
  if (cs.has('stored')) return {outcome: 'stored'}
  const fwd = cs.get('fwd')
  const detail = cs.get('detail')
  return {outcome: 'failed', error: `not stored: response is not cacheable${fwd && fwd !== true ? ` (fwd=${fwd}${detail && detail !== true ? `, ${detail}` : ''})` : ''}`}
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * POST /prefetch: GET every URL through our own data plane (so collapsing, storage and stats apply), at most
 * `concurrency` at once, bodies read and discarded. Streams a `start` line, one `result` per URL as it finishes,
 * then a `summary`. Stops issuing requests when the admin client goes away.
 */
export async function runPrefetch(d: OpsServices, job: PrefetchJob, out: Pick<NdjsonWriter, 'aborted' | 'write'>): Promise<PrefetchSummary> {
  const target = selfTarget(d.listenAddress)
  const agent = new http.Agent({keepAlive: true, maxSockets: job.concurrency})
  const timeoutMs = Math.max(d.config.upstream.headersTimeout, d.config.upstream.bodyTimeout) + 5000
  const summary: PrefetchSummary = {type: 'summary', total: job.urls.length, ok: 0, stored: 0, fresh: 0, revalidated: 0, failed: 0, bytes: 0}
  await out.write({type: 'start', total: job.urls.length, concurrency: job.concurrency} satisfies PrefetchStart)
  let next = 0
  const worker = async () => {
    while (next < job.urls.length && !out.aborted) {
      const item = job.urls[next++]!
      const r = await fetchOne(d, target, agent, timeoutMs, item, job)
      summary[r.outcome]++
      if (r.outcome !== 'failed') summary.ok++
      summary.bytes += r.bytes
      await out.write(r)
    }
  }
  try {
    await Promise.all(Array.from({length: Math.min(job.concurrency, job.urls.length)}, worker))
  } finally {
    agent.destroy()
  }
  await out.write(summary)
  d.log.info({urls: summary.total, stored: summary.stored, fresh: summary.fresh, revalidated: summary.revalidated, failed: summary.failed, bytes: summary.bytes}, 'prefetch')
  return summary
}

async function fetchOne(
  d: OpsServices,
  target: {host: string; port: number},
  agent: http.Agent,
  timeoutMs: number,
  item: PrefetchJob['urls'][number],
  job: PrefetchJob,
): Promise<PrefetchResult> {
  const raw: RawHeaders = ['Host', item.host, 'User-Agent', 'tavern-prefetch']
  for (const [n, v] of job.headers) raw.push(n, v)
  if (job.force) raw.push('Cache-Control', 'no-cache')
  const base = {type: 'result' as const, url: item.url}
  let answer: {status: number; bytes: number; cacheStatus: string[]}
  try {
    answer = await new Promise((resolve, reject) => {
      const headers: Record<string, string | string[]> = {}
      for (let i = 0; i < raw.length; i += 2) {
        const [n, v] = [raw[i]!, raw[i + 1]!]
        const cur = headers[n]
        headers[n] = cur === undefined ? v : [...(Array.isArray(cur) ? cur : [cur]), v]
      }
      const req = http.request({host: target.host, port: target.port, method: 'GET', path: item.path, agent, headers}, (res) => {
        let bytes = 0
        res.on('data', (c: Buffer) => {
          bytes += c.length
        })
        res.on('end', () => {
          if (!res.complete) reject(new Error(`response cut after ${bytes} bytes`))
          else resolve({status: res.statusCode ?? 0, bytes, cacheStatus: rawValues(res.rawHeaders, 'cache-status')})
        })
        res.on('aborted', () => reject(new Error(`response cut after ${bytes} bytes`)))
        res.on('error', reject)
      })
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no progress for ${timeoutMs} ms`)))
      req.on('error', reject)
      req.end()
    })
  } catch (error) {
    return {...base, status: 0, outcome: 'failed', bytes: 0, error: (error as Error).message}
  }
  const c = classify(answer.status, ownCacheStatus(answer.cacheStatus, d.config.cache.statusName))
  if (c.outcome === 'stored' && !(await landed(d, item.key, raw))) {
    return {...base, status: answer.status, outcome: 'failed', bytes: answer.bytes, error: 'response was not stored (refused or purged while filling)'}
  }
  return {...base, status: answer.status, outcome: c.outcome, bytes: answer.bytes, ...(c.error ? {error: c.error} : {})}
}

function rawValues(raw: readonly string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!)
  return out
}

/** The variant our request selects is in the index (the answer ends once the fill committed; allow a short lag). */
async function landed(d: OpsServices, key: string, reqHeaders: RawHeaders): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    const vary = d.storage.getVary(key)
    const variant = vary ? variantSelector(vary.names, reqHeaders) : ''
    if (variant !== null && d.storage.get(key, variant)) return true
    await sleep(20)
  }
  return false
}
