import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import Top from '../../src/commands/top.js'
import {statsSnapshotHandler} from '../../src/admin/routes/stats.js'
import {Stats} from '../../src/stats/recorder.js'

let dir: string
let sock: string
let server: http.Server
const stats = new Stats()

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-top-'))
  sock = path.join(dir, 'admin.sock')
  for (let i = 0; i < 10; i++) {
    stats.requestStarted()
    stats.requestFinished({outcome: i < 9 ? 'hit' : 'miss', status: 200, bytesOut: 100, durationMs: 2, key: 'http://a.test/x'})
  }
  const handler = statsSnapshotHandler(stats, () => ({version: '0.1.0-test', pid: 99, listeners: ['http://127.0.0.1:1']}))
  server = http.createServer((req, res) => {
    if (req.url === '/stats') return handler(req, res)
    res.writeHead(404).end('{}')
  })
  await new Promise<void>((r) => server.listen(sock, r))
})

afterAll(async () => {
  await new Promise((r) => server.close(r))
  fs.rmSync(dir, {recursive: true, force: true})
})

/** oclif's this.log goes through console.log, which vitest intercepts: spy there. */
async function runTop(argv: string[]): Promise<{out: string; err: string; result?: unknown; exit?: number}> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {})
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try {
    const result = await Top.run(argv, import.meta.url)
    return {out: log.mock.calls.map((c) => String(c[0])).join('\n'), err: stderr.mock.calls.map((c) => String(c[0])).join(''), result}
  } catch (error) {
    const exit = (error as {oclif?: {exit?: number}}).oclif?.exit
    return {out: log.mock.calls.map((c) => String(c[0])).join('\n'), err: stderr.mock.calls.map((c) => String(c[0])).join(''), exit}
  } finally {
    log.mockRestore()
    stderr.mockRestore()
  }
}

describe('tavern top (command)', () => {
  it('--once prints a plain snapshot', async () => {
    const r = await runTop(['--once', '--socket', sock])
    expect(r.exit).toBeUndefined()
    expect(r.out).toContain('tavern 0.1.0-test · pid 99')
    expect(r.out).toContain('since start: 90.0%')
    expect(r.out).toContain('http://a.test/x')
  })

  it('--once --json prints one JSON document', async () => {
    const r = await runTop(['--once', '--json', '--socket', sock])
    const doc = JSON.parse(r.out) as {version: string; requests: {total: number}}
    expect(doc.version).toBe('0.1.0-test')
    expect(doc.requests.total).toBe(10)
  })

  it('without a TTY and without --once behaves like --once', async () => {
    // vitest's stdin/stdout are not TTYs
    const r = await runTop(['--socket', sock, '--interval', '200'])
    expect(r.out).toContain('requests/s')
  })

  it('exits 3 with "no tavern daemon answers on <socket>" when nothing listens', async () => {
    const missing = path.join(dir, 'missing.sock')
    const r = await runTop(['--once', '--socket', missing])
    expect(r.exit).toBe(3)
    expect(r.err).toContain(`no tavern daemon answers on ${missing}`)
  })
})
