import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {describe, expect, it} from 'vitest'

import {statsSnapshotHandler, statsStreamHandler} from '../../../src/admin/routes/stats.js'
import {Stats} from '../../../src/stats/recorder.js'
import type {CacheOutcome} from '../../../src/stats/schema.js'

function finish(s: Stats, outcome: CacheOutcome, opts: {status?: number; bytes?: number; ms?: number; key?: string; collapsed?: boolean} = {}) {
  s.requestStarted()
  s.requestFinished({outcome, status: opts.status ?? 200, bytesOut: opts.bytes ?? 0, durationMs: opts.ms ?? 1, key: opts.key, collapsed: opts.collapsed})
}

describe('admin routes', () => {
  async function serve(handler: http.RequestListener) {
    const server = http.createServer(handler)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const {port} = server.address() as AddressInfo
    return {port, close: () => new Promise<void>((r) => server.close(() => r()))}
  }

  it('GET /stats answers one JSON snapshot with the daemon info', async () => {
    const s = new Stats()
    finish(s, 'hit', {bytes: 5})
    const srv = await serve(statsSnapshotHandler(s, () => ({version: '9.9.9', pid: 42, listeners: ['http://127.0.0.1:8080']})))
    try {
      const res = await fetch(`http://127.0.0.1:${srv.port}/stats`)
      expect(res.headers.get('content-type')).toBe('application/json')
      const body = (await res.json()) as {version: string; requests: {total: number}}
      expect(body.version).toBe('9.9.9')
      expect(body.requests.total).toBe(1)
    } finally {
      await srv.close()
    }
  })

  it('GET /stats/stream writes NDJSON until the client leaves, then stops its timer', async () => {
    const s = new Stats()
    let infoCalls = 0
    const handler = statsStreamHandler(s, 20, () => {
      infoCalls++
      return {version: '1', pid: 1, listeners: []}
    })
    const srv = await serve(handler)
    try {
      const lines = await new Promise<string[]>((resolve, reject) => {
        const got: string[] = []
        const req = http.get(`http://127.0.0.1:${srv.port}/stats/stream`, (res) => {
          expect(res.headers['content-type']).toBe('application/x-ndjson')
          let buf = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => {
            buf += chunk
            let nl: number
            while ((nl = buf.indexOf('\n')) >= 0) {
              got.push(buf.slice(0, nl))
              buf = buf.slice(nl + 1)
            }
            if (got.length >= 3) {
              req.destroy()
              resolve(got)
            }
          })
        })
        req.on('error', (e) => (got.length >= 3 ? undefined : reject(e)))
      })
      expect(lines.length).toBeGreaterThanOrEqual(3)
      for (const l of lines) expect((JSON.parse(l) as {schema: number}).schema).toBe(1)
      await new Promise((r) => setTimeout(r, 60))
      const after = infoCalls
      await new Promise((r) => setTimeout(r, 100))
      expect(infoCalls).toBe(after) // no more snapshots once the client is gone
    } finally {
      await srv.close()
    }
  })
})
