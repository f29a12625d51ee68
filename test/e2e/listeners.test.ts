// Which listener is which: `status` shows every listener (the metrics one included), and a port that is taken is
// named with its listener (issue 19: with the metrics port taken, the error named the free data-plane port).
import net from 'node:net'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin} from '../helpers/origin.js'

/** A TCP server holding a port of 127.0.0.1 until closed. */
async function holdPort(): Promise<{port: number; close: () => Promise<void>}> {
  const s = net.createServer()
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => resolve())
  })
  return {port: (s.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => s.close(() => r()))}
}

let origin: Origin
beforeAll(async () => {
  origin = await startOrigin()
}, 30_000)
afterAll(async () => {
  await origin?.close()
}, 30_000)

describe('listeners', () => {
  it('status shows the metrics listener, in text and in --json', async () => {
    const held = await holdPort()
    const metricsPort = held.port
    await held.close()
    const d = await startDaemon({upstream: origin.url, args: ['--metrics', `127.0.0.1:${metricsPort}`]})
    try {
      const json = await runCli(['status', '--json', '--socket', d.socket])
      expect(json.code).toBe(0)
      const body = JSON.parse(json.stdout) as {listeners: {http: string; admin: string; metrics: string | null}}
      expect(body.listeners).toMatchObject({http: d.host, admin: d.socket, metrics: `127.0.0.1:${metricsPort}`})
      const text = await runCli(['status', '--socket', d.socket])
      expect(text.stdout).toMatch(new RegExp(`^metrics +http://127\\.0\\.0\\.1:${metricsPort}/metrics$`, 'm'))
    } finally {
      await d.stop()
    }
    const off = await startDaemon({upstream: origin.url})
    try {
      const body = JSON.parse((await runCli(['status', '--json', '--socket', off.socket])).stdout) as {listeners: {metrics: string | null}}
      expect(body.listeners.metrics).toBeNull()
      expect((await runCli(['status', '--socket', off.socket])).stdout).toMatch(/^metrics +off$/m)
    } finally {
      await off.stop()
    }
  }, 60_000)

  it('a taken metrics port is named as the metrics listener, not the data plane', async () => {
    const held = await holdPort()
    try {
      const dir = makeTempDir()
      const r = await runCli(
        ['serve', '--listen', '127.0.0.1:0', '--upstream', origin.url, '--storage', path.join(dir, 's'), '--socket', path.join(dir, 'a.sock'), '--metrics', `127.0.0.1:${held.port}`],
        {timeoutMs: 20_000},
      )
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`tavern: cannot listen on 127.0.0.1:${held.port} (metrics listener): address in use`)
      expect(r.stderr).not.toContain('127.0.0.1:0')
    } finally {
      await held.close()
    }
  }, 30_000)

  it('a taken data-plane port is named as the data-plane listener', async () => {
    const held = await holdPort()
    try {
      const dir = makeTempDir()
      const r = await runCli(['serve', '--listen', `127.0.0.1:${held.port}`, '--upstream', origin.url, '--storage', path.join(dir, 's'), '--socket', path.join(dir, 'a.sock')], {timeoutMs: 20_000})
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`tavern: cannot listen on 127.0.0.1:${held.port} (data-plane listener): address in use`)
    } finally {
      await held.close()
    }
  }, 30_000)
})
