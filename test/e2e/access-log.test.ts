// `tavern serve --access-log PATH`: one JSON line per request, reopened on SIGUSR1 (log rotation).
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type DaemonHandle, makeTempDir, startDaemon} from '../helpers/daemon.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'

interface AccessLine {
  reqId: string
  client?: string
  method?: string
  host?: string
  path?: string
  status: number
  bytes: number
  durationMs: number
  cache: string
  upstreamMs?: number
  [k: string]: unknown
}

function readLines(file: string): string[] {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return []
  }
  return text.split('\n').filter((l) => l.length > 0)
}

/** Bounded poll until `file` holds at least `n` lines. */
async function waitForLines(file: string, n: number, d: DaemonHandle, timeoutMs = 5000): Promise<string[]> {
  const end = Date.now() + timeoutMs
  let lines = readLines(file)
  while (lines.length < n) {
    if (Date.now() > end) {
      throw new Error(
        `${file} has ${lines.length} line(s) after ${timeoutMs} ms, expected ${n}:\n${lines.join('\n')}\n` +
          `daemon ${d.process.exitCode === null && d.process.signalCode === null ? 'running' : `exited (${d.process.exitCode ?? d.process.signalCode})`}; last logs:\n${d.logs().slice(-2000)}`,
      )
    }
    await sleep(50)
    lines = readLines(file)
  }
  return lines
}

function parseLine(line: string): AccessLine {
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch (error) {
    throw new Error(`access log line is not JSON (${(error as Error).message}): ${line}`)
  }
  expect(v, line).toBeTypeOf('object')
  return v as AccessLine
}

function alive(d: DaemonHandle): boolean {
  return d.process.exitCode === null && d.process.signalCode === null
}

describe('access log', () => {
  let origin: Origin
  const daemons: DaemonHandle[] = []

  beforeAll(async () => {
    origin = await startOrigin()
  })

  afterAll(async () => {
    for (const d of daemons) await d.stop()
    await origin?.close()
  }, 30_000)

  async function daemonWithLog(): Promise<{d: DaemonHandle; file: string}> {
    const file = path.join(makeTempDir('tavern-al-'), 'access.log')
    const d = await startDaemon({upstream: origin.url, args: ['--access-log', file]})
    daemons.push(d)
    return {d, file}
  }

  it('a miss, a hit and a POST: one JSON line each, with the right fields and values', async () => {
    const {d, file} = await daemonWithLog()
    const cached = uniquePath('al-get')
    const posted = uniquePath('al-post')
    const body = 'cached body\n'
    const answer = 'post answer, a little longer\n'
    origin.route(cached, {headers: {'Cache-Control': 'max-age=3600'}, body})
    origin.route(posted, {headers: {'Cache-Control': 'no-store'}, body: answer})

    const miss = await d.request(cached)
    expect(miss.status).toBe(200)
    const hit = await d.request(cached)
    expect(hit.status).toBe(200)
    expect(hit.header('cache-status')).toMatch(/;\s*hit/)
    const post = await d.request(posted, {method: 'POST', body: 'payload', headers: {'Content-Type': 'text/plain'}})
    expect(post.status).toBe(200)
    expect(post.text).toBe(answer)

    const lines = await waitForLines(file, 3, d)
    expect(lines, lines.join('\n')).toHaveLength(3)
    const entries = lines.map(parseLine)
    const dump = lines.join('\n')

    for (const e of entries) {
      expect(e.reqId, dump).toMatch(/^\S+$/)
      expect(e.client, dump).toBe('127.0.0.1')
      expect(e.host, dump).toBe(d.host)
      expect(e.status, dump).toBe(200)
      expect(e.durationMs, dump).toBeTypeOf('number')
      expect(e.durationMs, dump).toBeGreaterThanOrEqual(0)
    }
    expect(new Set(entries.map((e) => e.reqId)).size, dump).toBe(3)

    const byCache = (m: string, p: string, c: string) => entries.filter((e) => e.method === m && e.path === p && e.cache === c)
    const [m] = byCache('GET', cached, 'miss')
    const [h] = byCache('GET', cached, 'hit')
    const [b] = byCache('POST', posted, 'bypass')
    expect(m, `no miss line for GET ${cached}:\n${dump}`).toBeDefined()
    expect(h, `no hit line for GET ${cached}:\n${dump}`).toBeDefined()
    expect(b, `no bypass line for POST ${posted}:\n${dump}`).toBeDefined()
    expect(m!.bytes).toBe(Buffer.byteLength(body))
    expect(h!.bytes).toBe(Buffer.byteLength(body))
    expect(b!.bytes).toBe(Buffer.byteLength(answer))
    // Time spent waiting for the origin: present when the origin was asked, absent on a hit.
    expect(m!.upstreamMs, dump).toBeTypeOf('number')
    expect(b!.upstreamMs, dump).toBeTypeOf('number')
    expect(h!.upstreamMs, dump).toBeUndefined()

    // Logging a request must never take the daemon down.
    expect(alive(d), d.logs().slice(-2000)).toBe(true)
    expect((await d.status()).pid).toBe(d.pid)
  })

  it('status reports where the access log goes and that nothing was dropped; without --access-log it is null', async () => {
    const {d, file} = await daemonWithLog()
    expect((await d.status()).accessLog).toEqual({path: file, dropped: 0})
    const plain = await startDaemon({upstream: origin.url})
    daemons.push(plain)
    expect((await plain.status()).accessLog).toBeNull()
  })

  it('the daemon survives logging a POST (request finished after the client connection went away)', async () => {
    const {d} = await daemonWithLog()
    const p = uniquePath('al-post-only')
    origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'ok\n'})
    const r = await d.request(p, {method: 'POST', body: 'x'})
    expect(r.status).toBe(200)
    // The request helper closes its connection after the response (agent: false).
    await sleep(300)
    expect(alive(d), `daemon died after a POST with the access log on:\n${d.logs().slice(-2000)}`).toBe(true)
    expect((await d.status()).pid).toBe(d.pid)
  })

  it('SIGUSR1 reopens the file: after a rename, new lines go to a new file at the original path', async () => {
    const {d, file} = await daemonWithLog()
    const before = uniquePath('al-before')
    const after = uniquePath('al-after')
    for (const p of [before, after]) origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: `${p}\n`})

    expect((await d.request(before)).status).toBe(200)
    expect((await d.request(before)).status).toBe(200)
    await waitForLines(file, 2, d)

    const rotated = `${file}.1`
    fs.renameSync(file, rotated)
    process.kill(d.pid, 'SIGUSR1')
    // The reopen creates the file again (bounded wait), before any new request.
    const end = Date.now() + 5000
    while (!fs.existsSync(file)) {
      if (Date.now() > end) throw new Error(`${file} was not recreated within 5 s of SIGUSR1\n${d.logs().slice(-2000)}`)
      await sleep(25)
    }

    expect((await d.request(after)).status).toBe(200)
    expect((await d.request(after)).status).toBe(200)
    expect((await d.request(after)).status).toBe(200)
    const fresh = await waitForLines(file, 3, d)
    expect(fresh, fresh.join('\n')).toHaveLength(3)
    for (const l of fresh) expect(l).toContain(`"path":"${after}"`)

    const old = readLines(rotated)
    expect(old, old.join('\n')).toHaveLength(2)
    for (const l of old) expect(l).toContain(`"path":"${before}"`)
    expect(alive(d)).toBe(true)
  })
})
