// The live request log (`tavern log`, GET /log/stream) and the access log's user_agent/referer (issue 19): what
// varnishlog/varnishncsa users reach for, filtered in the daemon, bounded so a slow reader never slows the data plane.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type CliResult, type DaemonHandle, makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {waitFor} from '../helpers/wait.js'

let origin: Origin
let d: DaemonHandle
let accessLog: string
beforeAll(async () => {
  origin = await startOrigin()
  accessLog = path.join(makeTempDir(), 'access.log')
  // The failing routes answer 5xx on purpose: keep the single member out of ejection and its breaker closed.
  d = await startDaemon({upstream: origin.url, config: {accessLog: {enabled: true, path: accessLog}, upstream: {breaker: {enabled: false}, outlier: {enabled: false}}}})
}, 30_000)
afterAll(async () => {
  await d?.stop()
  await origin?.close()
}, 30_000)

/** Run `tavern log ARGS` while sending traffic with `drive` until it exits (bounded). */
async function follow(args: string[], drive: (i: number) => Promise<unknown>): Promise<CliResult> {
  let done = false
  const cli = runCli(['log', ...args, '--socket', d.socket], {timeoutMs: 30_000}).finally(() => (done = true))
  for (let i = 0; !done && i < 400; i++) {
    await drive(i)
    await new Promise((r) => setTimeout(r, 50))
  }
  return cli
}

describe('access log fields', () => {
  it('JSON lines carry user_agent and referer', async () => {
    const p = uniquePath('ua')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'x'})
    await d.request(p, {headers: {'User-Agent': 'curl/8.5 "quoted"', Referer: 'https://ref.example/page'}})
    await waitFor(() => fs.readFileSync(accessLog, 'utf8').includes(p), {message: `an access line for ${p}`})
    const line = fs.readFileSync(accessLog, 'utf8').split('\n').find((l) => l.includes(p))!
    expect(JSON.parse(line)).toMatchObject({path: p, status: 200, user_agent: 'curl/8.5 "quoted"', referer: 'https://ref.example/page'})
  })
})

describe('tavern log', () => {
  it('--json --filter status>=500 streams only the failing requests, with the cache decision, key and upstream', async () => {
    const ok = uniquePath('live-ok')
    const bad = uniquePath('live-bad')
    origin.route(ok, {headers: {'Cache-Control': 'max-age=60'}, body: 'fine'})
    origin.route(bad, {status: 503, body: 'down'})
    const r = await follow(['--json', '--filter', 'status>=500', '--count', '2'], async () => {
      await d.request(ok)
      await d.request(bad, {headers: {'User-Agent': 'live-test'}})
    })
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toHaveLength(2)
    for (const l of lines) {
      expect(l).toMatchObject({type: 'request', method: 'GET', path: bad, status: 503, host: d.host, key: `http://${d.host}${bad}`, userAgent: 'live-test'})
      expect(l.upstream).toBeTypeOf('string')
      expect(String(l.cacheStatus)).toMatch(/^tavern; fwd=/)
      expect(l.reqId).toBeTypeOf('string')
    }
  }, 40_000)

  it('text and combined formats; host/path filters', async () => {
    const p = uniquePath('live-text')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'abc'})
    const text = await follow(['--filter', `path^=${p}`, '--count', '1'], () => d.request(p))
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} 200 GET ${d.host.replace(/\./g, '\\.')}${p} (miss|hit) 3B `))
    const combined = await follow(['--format', 'combined', '--filter', `host=${d.host}`, '--filter', `path=${p}`, '--count', '1'], () => d.request(p, {headers: {Referer: 'http://a/'}}))
    expect(combined.stdout.trim()).toMatch(new RegExp(`^127\\.0\\.0\\.1 - - \\[[^\\]]+ \\+0000\\] "GET ${p} HTTP/1\\.1" 200 3 "http://a/" "-"$`))
  }, 60_000)

  it('a bad filter is a usage error (exit 2) naming the problem', async () => {
    const r = await runCli(['log', '--filter', 'colour=red', '--socket', d.socket])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('unknown field "colour"')
    const j = await runCli(['log', '--json', '--filter', 'status>=abc', '--socket', d.socket])
    expect(j.code).toBe(2)
    expect(JSON.parse(j.stdout)).toMatchObject({error: {code: 'TAVERN_ERR_BAD_ARGUMENT'}})
  })

  it('a reader that does not read loses lines (and is told), it never holds up requests', async () => {
    // A follower that reads nothing: its socket buffers fill, then the daemon's bounded queue, then lines drop.
    const lines: string[] = []
    let paused = true
    let buf = ''
    const req = http.get({socketPath: d.socket, path: '/log/stream'})
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      req.once('response', resolve)
      req.once('error', reject)
    })
    expect(res.statusCode).toBe(200)
    res.pause()
    res.on('data', (c: Buffer) => {
      buf += c.toString()
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl))
        buf = buf.slice(nl + 1)
      }
    })
    try {
      const p = uniquePath('live-slow')
      origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: 'y'})
      // ~8 KiB per line (the long query shows in path and key): 600 of them are well past socket buffers + 1 MiB.
      const q = 'q=' + 'z'.repeat(4000)
      for (let i = 0; i < 600; i++) expect((await d.request(`${p}?${q}&i=${i % 3}`)).status).toBe(200)
      paused = false
      res.resume()
      const got = () => lines.filter((l) => l.includes('"type":"request"')).length
      const droppedTotal = () => Math.max(0, ...lines.filter((l) => l.includes('"type":"dropped"')).map((l) => (JSON.parse(l) as {total: number}).total))
      // Every request is either shown or counted as dropped; some were dropped.
      await waitFor(() => got() + droppedTotal() === 600, {message: 'every request shown or counted as dropped', timeoutMs: 20_000})
      expect(droppedTotal()).toBeGreaterThan(0)
      expect(got()).toBeLessThan(600)
    } finally {
      expect(paused).toBe(false)
      req.destroy()
    }
  }, 120_000)
})
