// `tavern serve --metrics HOST:PORT`: the Prometheus listener. The exposition is parsed with a strict
// text-format (0.0.4) parser and the counters are checked against the exact traffic sent.
import http from 'node:http'
import net from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type DaemonHandle, httpRequest, startDaemon} from '../helpers/daemon.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'

// ---- a strict Prometheus text exposition parser -------------------------------------------------------

type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
  family: string
  line: number
}

interface Family {
  name: string
  /** Undefined until a TYPE line declared it. */
  type?: MetricType
  help?: string
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

/** Values are what Go's strconv.ParseFloat accepts (Prometheus parses them with it): NaN/Inf case-insensitively. */
function parseValue(s: string, where: string): number {
  if (/^nan$/i.test(s)) return Number.NaN
  if (/^\+?inf(inity)?$/i.test(s)) return Number.POSITIVE_INFINITY
  if (/^-inf(inity)?$/i.test(s)) return Number.NEGATIVE_INFINITY
  if (!FLOAT.test(s)) throw new Error(`${where}: "${s}" is not a float`)
  return Number(s)
}

/** The family a sample name belongs to, given the declared families (histogram/summary suffixes). */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name)
  if (direct) return direct
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue
    const f = families.get(name.slice(0, -suffix.length))
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f
  }
  return undefined
}

/** Parse `{a="x",b="y\"z"}` starting at s[i] === '{'; returns the labels and the index after '}'. */
function parseLabels(s: string, start: number, where: string): {labels: Record<string, string>; end: number} {
  const labels: Record<string, string> = {}
  let i = start + 1
  for (;;) {
    if (s[i] === '}') return {labels, end: i + 1}
    const eq = s.indexOf('=', i)
    if (eq === -1) throw new Error(`${where}: label without "="`)
    const name = s.slice(i, eq)
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: bad label name "${name}"`)
    if (name in labels) throw new Error(`${where}: duplicate label "${name}"`)
    if (s[eq + 1] !== '"') throw new Error(`${where}: label value of "${name}" is not quoted`)
    let v = ''
    let j = eq + 2
    for (;;) {
      const c = s[j]
      if (c === undefined) throw new Error(`${where}: unterminated label value`)
      if (c === '\\') {
        const n = s[j + 1]
        if (n === '\\') v += '\\'
        else if (n === '"') v += '"'
        else if (n === 'n') v += '\n'
        else throw new Error(`${where}: bad escape "\\${n}" in a label value`)
        j += 2
        continue
      }
      if (c === '"') break
      v += c
      j++
    }
    labels[name] = v
    i = j + 1
    if (s[i] === ',') {
      i++
      continue
    }
    if (s[i] !== '}') throw new Error(`${where}: expected "," or "}" after label "${name}"`)
  }
}

function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const seen = new Set<string>()
  const closed = new Set<string>()
  let current: Family | undefined
  if (!text.endsWith('\n')) throw new Error('exposition does not end with a newline')
  const lines = text.split('\n')
  lines.pop()
  lines.forEach((line, idx) => {
    const where = `line ${idx + 1} "${line}"`
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line)
      if (!m) {
        if (/^#\s*(HELP|TYPE)\b/.test(line)) throw new Error(`${where}: malformed HELP/TYPE line`)
        return // a plain comment
      }
      const [, kind, name, rest] = m
      if (!METRIC_NAME.test(name!)) throw new Error(`${where}: bad metric name`)
      let f = families.get(name!)
      if (kind === 'TYPE') {
        if (f && f.samples.length > 0) throw new Error(`${where}: TYPE after samples of ${name}`)
        if (f?.type !== undefined) throw new Error(`${where}: second TYPE for ${name}`)
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest ?? '')) throw new Error(`${where}: unknown type "${rest}"`)
        if (!f) {
          f = {name: name!, samples: []}
          families.set(name!, f)
        }
        f.type = rest as MetricType
      } else {
        if (f?.help !== undefined) throw new Error(`${where}: second HELP for ${name}`)
        if (!f) {
          f = {name: name!, samples: []}
          families.set(name!, f)
        }
        f.help = rest ?? ''
      }
      if (current && current.name !== name) closed.add(current.name)
      if (closed.has(name!)) throw new Error(`${where}: metadata for ${name} after its group ended`)
      current = f
      return
    }
    // name[{labels}] value [timestamp]
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)
    if (!nm) throw new Error(`${where}: not a sample line`)
    const name = nm[0]
    let i = name.length
    let labels: Record<string, string> = {}
    if (line[i] === '{') {
      const p = parseLabels(line, i, where)
      labels = p.labels
      i = p.end
    }
    if (line[i] !== ' ') throw new Error(`${where}: expected a space before the value`)
    const parts = line.slice(i + 1).split(' ')
    if (parts.length < 1 || parts.length > 2 || parts.some((x) => x === '')) throw new Error(`${where}: expected "value [timestamp]"`)
    const value = parseValue(parts[0]!, where)
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`${where}: bad timestamp`)
    const f = familyOf(name, families)
    if (!f || f.type === undefined) throw new Error(`${where}: sample of ${name} without a TYPE declaration`)
    if (current !== f || closed.has(f.name)) throw new Error(`${where}: samples of ${f.name} are not in one group`)
    const id = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (seen.has(id)) throw new Error(`${where}: duplicate sample`)
    seen.add(id)
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter value ${value} is negative or NaN`)
    f.samples.push({name, labels, value, family: f.name, line: idx + 1})
  })
  for (const f of families.values()) {
    if (f.type === undefined) throw new Error(`HELP without TYPE for ${f.name}`)
    if (f.type === 'histogram') checkHistogram(f)
  }
  return families
}

/** Per label set (without le): buckets cumulative, ascending le, a +Inf bucket equal to _count, one _sum. */
function checkHistogram(f: Family): void {
  const groups = new Map<string, {buckets: Array<[number, number]>; sum?: number; count?: number}>()
  for (const s of f.samples) {
    const {le, ...rest} = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    const g = groups.get(key) ?? {buckets: []}
    groups.set(key, g)
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le (line ${s.line})`)
      g.buckets.push([parseValue(le, `${f.name} le`), s.value])
    } else if (s.name === `${f.name}_sum`) g.sum = s.value
    else if (s.name === `${f.name}_count`) g.count = s.value
    else throw new Error(`${f.name}: unexpected sample ${s.name}`)
  }
  for (const [key, g] of groups) {
    if (g.count === undefined || g.sum === undefined) throw new Error(`${f.name}${key}: missing _sum or _count`)
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i]![0] > g.buckets[i - 1]![0])) throw new Error(`${f.name}${key}: le not ascending`)
      if (g.buckets[i]![1] < g.buckets[i - 1]![1]) throw new Error(`${f.name}${key}: buckets not cumulative`)
    }
    const last = g.buckets.at(-1)
    if (!last || last[0] !== Number.POSITIVE_INFINITY) throw new Error(`${f.name}${key}: no +Inf bucket`)
    if (last[1] !== g.count) throw new Error(`${f.name}${key}: +Inf bucket ${last[1]} != _count ${g.count}`)
  }
}

// ---- the tests ---------------------------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

function sumOf(families: Map<string, Family>, sampleName: string, match: Record<string, string> = {}): number {
  const fam = familyOf(sampleName, families)
  if (!fam) throw new Error(`no family for ${sampleName}`)
  return fam.samples.filter((s) => s.name === sampleName && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0)
}

describe('Prometheus /metrics listener', () => {
  let origin: Origin
  let daemon: DaemonHandle
  let metricsPort: number
  const scrape = (p = '/metrics', method = 'GET') => httpRequest(p, {host: '127.0.0.1', port: metricsPort, method})

  beforeAll(async () => {
    origin = await startOrigin()
    metricsPort = await freePort()
    daemon = await startDaemon({upstream: origin.url, args: ['--metrics', `127.0.0.1:${metricsPort}`]})
  }, 30_000)

  afterAll(async () => {
    await daemon?.stop()
    await origin?.close()
  }, 30_000)

  it('listens where asked and says so in the ready line', () => {
    const ready = daemon.logLines().find((l) => l.msg === 'tavern ready')
    expect(ready?.metrics).toBe(`127.0.0.1:${metricsPort}`)
  })

  it('before any traffic: valid exposition, zero request counters', async () => {
    const r = await scrape()
    expect(r.status).toBe(200)
    expect(r.header('content-type')).toMatch(/^text\/plain; *version=0\.0\.4/)
    const f = parseExposition(r.text)
    for (const name of ['tavern_requests_total', 'tavern_origin_requests_total', 'tavern_request_duration_seconds', 'tavern_response_bytes_total', 'tavern_inflight_requests']) {
      expect(f.has(name), `family ${name}`).toBe(true)
    }
    expect(f.get('tavern_requests_total')!.type).toBe('counter')
    expect(f.get('tavern_request_duration_seconds')!.type).toBe('histogram')
    expect(sumOf(f, 'tavern_requests_total')).toBe(0)
    expect(sumOf(f, 'tavern_origin_requests_total')).toBe(0)
    expect(sumOf(f, 'tavern_request_duration_seconds_count')).toBe(0)
    // Every family has the tavern_ prefix.
    for (const name of f.keys()) expect(name).toMatch(/^tavern_/)
  })

  it('counts N misses and M hits exactly', async () => {
    const N = 4
    const M = 11
    const body = 'x'.repeat(100)
    const paths = Array.from({length: N}, () => uniquePath('metrics'))
    for (const p of paths) origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body})
    for (const p of paths) {
      const r = await daemon.request(p)
      expect(r.status).toBe(200)
      expect(r.header('cache-status')).toMatch(/fwd=(uri-)?miss/)
    }
    for (let i = 0; i < M; i++) {
      const p = paths[i % N]!
      const r = await daemon.request(p)
      expect(r.status).toBe(200)
      expect(r.header('cache-status'), `request ${i} for ${p}`).toMatch(/;\s*hit/)
      expect(r.body.length).toBe(body.length)
    }
    for (const p of paths) expect(origin.countFor(p)).toBe(1)

    // The outcome is recorded when the response has finished on the daemon side: give it a bounded moment.
    let f = parseExposition((await scrape()).text)
    const end = Date.now() + 3000
    while (sumOf(f, 'tavern_request_duration_seconds_count') < N + M && Date.now() < end) {
      await sleep(50)
      f = parseExposition((await scrape()).text)
    }

    expect(sumOf(f, 'tavern_requests_total', {outcome: 'hit'})).toBe(M)
    expect(sumOf(f, 'tavern_requests_total', {outcome: 'miss'})).toBe(N)
    expect(sumOf(f, 'tavern_requests_total')).toBe(N + M)
    expect(sumOf(f, 'tavern_requests_total', {status_class: '2xx'})).toBe(N + M)
    expect(sumOf(f, 'tavern_origin_requests_total')).toBe(N)
    expect(sumOf(f, 'tavern_origin_requests_total', {result: '2xx'})).toBe(N)
    expect(sumOf(f, 'tavern_request_duration_seconds_count')).toBe(N + M)
    expect(sumOf(f, 'tavern_request_duration_seconds_bucket', {le: '+Inf'})).toBe(N + M)
    expect(sumOf(f, 'tavern_origin_ttfb_seconds_count')).toBe(N)
    expect(sumOf(f, 'tavern_response_bytes_total', {outcome: 'hit'})).toBe(M * body.length)
    expect(sumOf(f, 'tavern_response_bytes_total', {outcome: 'miss'})).toBe(N * body.length)
    expect(sumOf(f, 'tavern_inflight_requests')).toBe(0)

    // Scraping is not traffic: a second scrape shows the same request counts.
    const again = parseExposition((await scrape()).text)
    expect(sumOf(again, 'tavern_requests_total')).toBe(N + M)

    // And the admin socket agrees.
    const st = await daemon.status()
    expect(st.counters.hits).toBe(M)
    expect(st.counters.misses).toBe(N)
  })

  it('HEAD /metrics answers 200 without a body; other paths are 404', async () => {
    const h = await scrape('/metrics', 'HEAD')
    expect(h.status).toBe(200)
    expect(h.body.length).toBe(0)
    for (const p of ['/', '/metric', '/metrics/x', '/stats', '/status']) {
      const r = await scrape(p)
      expect(r.status, p).toBe(404)
    }
    // The query string does not change the route.
    expect((await scrape('/metrics?x=1')).status).toBe(200)
  })

  it('keeps working on a kept-alive scraper connection', async () => {
    const agent = new http.Agent({keepAlive: true, maxSockets: 1})
    try {
      const sockets = new Set<unknown>()
      for (let i = 0; i < 3; i++) {
        const text = await new Promise<string>((resolve, reject) => {
          const req = http.get({host: '127.0.0.1', port: metricsPort, path: '/metrics', agent}, (res) => {
            sockets.add(res.socket)
            let b = ''
            res.setEncoding('utf8')
            res.on('data', (c: string) => (b += c))
            res.on('end', () => resolve(b))
            res.on('error', reject)
          })
          req.on('error', reject)
          req.setTimeout(5000, () => req.destroy(new Error('scrape timed out')))
        })
        expect(() => parseExposition(text)).not.toThrow()
      }
      expect(sockets.size).toBe(1)
    } finally {
      agent.destroy()
    }
  })
})

// The parser itself must reject what Prometheus rejects, or the checks above prove nothing.
describe('the strict exposition parser', () => {
  const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 3\n\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.5\nh_count 2\n'
  it('accepts a valid document', () => {
    const f = parseExposition(ok)
    expect(f.get('a_total')!.samples[0]!.value).toBe(3)
    expect(f.get('h')!.samples).toHaveLength(4)
  })
  it.each([
    ['sample without TYPE', 'b 1\n'],
    ['non-float value', '# TYPE a gauge\na one\n'],
    ['unquoted label', '# TYPE a gauge\na{x=1} 1\n'],
    ['bad escape', '# TYPE a gauge\na{x="\\t"} 1\n'],
    ['duplicate sample', '# TYPE a gauge\na 1\na 2\n'],
    ['split group', '# TYPE a gauge\n# TYPE b gauge\na 1\n'],
    ['non-cumulative histogram', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['+Inf bucket != count', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n'],
    ['missing final newline', '# TYPE a gauge\na 1'],
    ['negative counter', '# TYPE a_total counter\na_total -1\n'],
  ])('rejects %s', (_what, text) => {
    expect(() => parseExposition(text)).toThrow()
  })
})
