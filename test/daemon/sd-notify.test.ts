// sd_notify through systemd-notify, against a real Unix datagram socket bound by the test (python3 receiver).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {SdNotifier, watchdogIntervalMs} from '../../src/daemon/sd-notify.js'
import {notifyUnsupported, startNotifySocket} from '../helpers/notify-socket.js'

const unsupported = notifyUnsupported()
if (unsupported) console.log(`sd-notify.test.ts: ${unsupported}, so the tests that need a notification socket are skipped`)

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-sdn-'))
afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

it('the watchdog interval is half of WATCHDOG_USEC, only for the process WATCHDOG_PID names', () => {
  expect(watchdogIntervalMs({WATCHDOG_USEC: '30000000'}, 42)).toBe(15_000)
  expect(watchdogIntervalMs({WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42'}, 42)).toBe(15_000)
  expect(watchdogIntervalMs({WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43'}, 42)).toBeUndefined()
  expect(watchdogIntervalMs({}, 42)).toBeUndefined()
  expect(watchdogIntervalMs({WATCHDOG_USEC: 'soon'}, 42)).toBeUndefined()
  expect(watchdogIntervalMs({WATCHDOG_USEC: '0'}, 42)).toBeUndefined()
})

it('without NOTIFY_SOCKET nothing is sent and nothing runs', async () => {
  const n = new SdNotifier({env: {}, command: '/nonexistent/systemd-notify'})
  expect(n.enabled).toBe(false)
  expect(await n.ready('x')).toBe(false)
  expect(n.startWatchdog()).toBe(false)
})

it('a missing systemd-notify is warned about once; the calls resolve false', async () => {
  const warnings: string[] = []
  const n = new SdNotifier({env: {NOTIFY_SOCKET: path.join(dir, 'none.sock'), WATCHDOG_USEC: '100000'}, command: path.join(dir, 'no-such-systemd-notify'), log: {warn: (_o, m) => void warnings.push(m)}})
  expect(await n.ready('up')).toBe(false)
  expect(await n.status('still')).toBe(false)
  expect(n.startWatchdog()).toBe(false)
  expect(warnings).toHaveLength(1)
  expect(warnings[0]).toContain('systemd-notify is not installed')
})

describe.skipIf(unsupported !== undefined)('with a notification socket', () => {
  it('READY, STATUS (one line), WATCHDOG pings and STOPPING arrive in order, naming our pid', async () => {
    const ns = await startNotifySocket(dir)
    try {
      const n = new SdNotifier({env: {...process.env, NOTIFY_SOCKET: ns.path, WATCHDOG_USEC: '200000'}})
      expect(await n.ready('serving on a\nb')).toBe(true)
      expect(n.startWatchdog()).toBe(true)
      await ns.waitFor((m) => ns.messages().filter((x) => x.includes('WATCHDOG=1')).length >= 3 && m.includes('WATCHDOG=1'))
      expect(await n.stopping('stopping')).toBe(true)
      const msgs = ns.messages().filter((m) => m !== 'BARRIER=1')
      expect(msgs[0]).toBe(`MAINPID=${process.pid}\nREADY=1\nSTATUS=serving on a b`)
      expect(msgs.at(-1)).toBe(`MAINPID=${process.pid}\nSTOPPING=1\nSTATUS=stopping`)
      expect(msgs.slice(1, -1).every((m) => m === `MAINPID=${process.pid}\nWATCHDOG=1`)).toBe(true)
      expect(n.sent).toBe(msgs.length)
    } finally {
      await ns.close()
    }
  })
})
