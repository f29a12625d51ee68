// The daemon under systemd, as far as a test can be systemd: a notification socket (Type=notify: READY=1 once the
// listeners are up, STATUS=, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 when the stop begins) and a journal
// stream (JOURNAL_STREAM names the daemon's stdout: each line carries its <priority>).
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BIN, httpRequest, makeTempDir, REPO_ROOT, startDaemon} from '../helpers/daemon.js'
import {notifyUnsupported, startNotifySocket} from '../helpers/notify-socket.js'
import {type Origin, sleep, startOrigin} from '../helpers/origin.js'

const unsupported = notifyUnsupported()
if (unsupported) console.log(`systemd.test.ts: ${unsupported}, so the notification tests are skipped`)

let origin: Origin
beforeAll(async () => {
  origin = await startOrigin()
  origin.route('/sd', {headers: {'Cache-Control': 'max-age=60'}, body: 'hello'})
}, 30_000)
afterAll(async () => {
  await origin?.close()
}, 30_000)

describe.skipIf(unsupported !== undefined)('sd_notify', () => {
  it('READY=1 only once the data plane answers; watchdog pings; reload and stop are reported', async () => {
    const ns = await startNotifySocket(makeTempDir('tavern-sdn-'))
    try {
      const d = await startDaemon({upstream: origin.url, env: {NOTIFY_SOCKET: ns.path, WATCHDOG_USEC: '400000'}})
      const ready = await ns.waitFor((m) => m.includes('READY=1'))
      expect(ready).toBe(`MAINPID=${d.pid}\nREADY=1\nSTATUS=serving on ${d.host}; admin socket ${d.socket}`)
      // The first message is READY, naming the port the listener got: nothing was sent before it was bound.
      expect(ns.messages().filter((m) => m !== 'BARRIER=1')[0]).toBe(ready)
      expect((await d.request('/sd')).text).toBe('hello')
      // At half of WATCHDOG_USEC (200 ms): a few pings while we wait.
      await ns.waitFor(() => ns.messages().filter((m) => m.includes('WATCHDOG=1')).length >= 3)
      d.process.kill('SIGHUP')
      const reloaded = await ns.waitFor((m) => m.includes('config reloaded'))
      // RELOADING=1 (with the monotonic clock, for Type=notify-reload) first, READY=1 once the reload is over.
      const reloading = ns.messages().find((m) => m.includes('RELOADING=1'))
      expect(reloading).toMatch(new RegExp(`^MAINPID=${d.pid}\\nRELOADING=1\\nMONOTONIC_USEC=\\d+\\nSTATUS=reloading the config$`))
      expect(ns.messages().indexOf(reloading!)).toBeLessThan(ns.messages().indexOf(reloaded))
      expect(reloaded).toMatch(new RegExp(`^MAINPID=${d.pid}\\nREADY=1\\nSTATUS=serving on .*; config reloaded at \\d{4}-`))
      const code = d.stop('SIGTERM')
      const stopping = await ns.waitFor((m) => m.includes('STOPPING=1'))
      expect(stopping).toBe(`MAINPID=${d.pid}\nSTOPPING=1\nSTATUS=stopping (SIGTERM); in-flight requests get up to 10000 ms`)
      expect(await code).toBe(0)
    } finally {
      await ns.close()
    }
  }, 60_000)

  it('NOTIFY_SOCKET set but no systemd-notify on PATH: the daemon serves and says why systemd will not hear from it', async () => {
    const d = await startDaemon({upstream: origin.url, env: {NOTIFY_SOCKET: path.join(makeTempDir(), 'n.sock'), PATH: makeTempDir()}})
    try {
      expect((await d.request('/sd')).status).toBe(200)
      for (let i = 0; !d.logLines().some((l) => String(l.msg).includes('systemd-notify is not installed')); i++) {
        if (i > 400) throw new Error(`no warning in the log:\n${d.logs()}`)
        await sleep(25)
      }
      expect(d.logLines().find((l) => String(l.msg).includes('systemd-notify is not installed'))).toMatchObject({level: 'warn', priority: 4})
    } finally {
      expect(await d.stop()).toBe(0)
    }
  }, 60_000)
})

it('on the journal stream (JOURNAL_STREAM = its dev:inode) every daemon line starts with its syslog priority', async () => {
  const dir = makeTempDir()
  const out = path.join(dir, 'journal')
  const fd = fs.openSync(out, 'w')
  const st = fs.fstatSync(fd, {bigint: true})
  const socket = path.join(dir, 'a.sock')
  const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--upstream', origin.url, '--storage', path.join(dir, 'storage'), '--socket', socket], {
    cwd: REPO_ROOT,
    env: {...process.env, NO_COLOR: '1', JOURNAL_STREAM: `${st.dev}:${st.ino}`},
    stdio: ['ignore', fd, 'pipe'],
  })
  fs.closeSync(fd)
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
  try {
    const lines = () => fs.readFileSync(out, 'utf8').split('\n').filter(Boolean)
    for (let i = 0; !lines().some((l) => l.includes('"msg":"tavern ready"')); i++) {
      if (i > 600) throw new Error(`not ready:\n${lines().join('\n')}`)
      await sleep(25)
    }
    const r = await httpRequest('/status', {socketPath: socket})
    expect(r.status).toBe(200)
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    const all = lines()
    expect(all.length).toBeGreaterThan(2)
    for (const l of all) {
      const m = /^<(\d)>(\{.*\})$/.exec(l)
      expect(m, l).not.toBeNull()
      const j = JSON.parse(m![2]!) as {priority: number; level: string}
      expect(Number(m![1])).toBe(j.priority)
    }
    expect(all.find((l) => l.includes('"msg":"tavern ready"'))!.startsWith('<6>{"level":"info","priority":6,')).toBe(true)
  } finally {
    child.kill('SIGKILL')
  }
}, 60_000)
