// examples/systemd/tavern.service: what the README promises is in it, it agrees with the daemon's own bounds, and
// systemd itself accepts it (systemd-analyze verify, and its offline security score; skipped where systemd-analyze is
// missing, with the reason printed).
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {expect, it} from 'vitest'
import {loadConfig} from '../../src/config/load.js'
import {BIN, makeTempDir, REPO_ROOT} from '../helpers/daemon.js'

const UNIT = path.join(REPO_ROOT, 'examples/systemd/tavern.service')
const CONFIG = path.join(REPO_ROOT, 'examples/systemd/tavern.config.yaml')
const hasAnalyze = spawnSync('systemd-analyze', ['--version'], {stdio: 'ignore'}).status === 0
if (!hasAnalyze) console.log('systemd-unit.test.ts: systemd-analyze is not installed (package systemd), so the verify and security checks are skipped')

/** [Section] → key → values (a key may repeat). */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {}
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const s = /^\[(.+)\]$/.exec(line)
    if (s) {
      section = s[1]!
      out[section] ??= {}
      continue
    }
    const i = line.indexOf('=')
    ;((out[section] ??= {})[line.slice(0, i)] ??= []).push(line.slice(i + 1))
  }
  return out
}

const unit = parseUnit(fs.readFileSync(UNIT, 'utf8'))
const svc = unit.Service!
const one = (k: string) => {
  expect(svc[k], k).toHaveLength(1)
  return svc[k]![0]!
}
const seconds = (v: string) => Number(/^(\d+)s$/.exec(v)![1])

it('Type=notify with the notify access the systemd-notify sender needs; serve, reload and the runtime socket', () => {
  expect(one('Type')).toBe('notify')
  expect(one('NotifyAccess')).toBe('all')
  expect(one('ExecStart')).toMatch(/^\/\S+\/tavern serve -c \/etc\/tavern\/tavern\.config\.yaml$/)
  expect(one('ExecReload')).toMatch(/^\/\S+\/tavern reload$/)
  expect(one('RuntimeDirectory')).toBe('tavern')
  expect(one('Environment')).toBe('TAVERN_SOCKET=/run/tavern/tavern.sock')
  expect(one('CacheDirectory')).toBe('tavern')
  expect(one('User')).toBe('tavern')
  expect(one('Group')).toBe('tavern')
})

it('restarts on failure but not on a config that cannot start (exit 2); stop and watchdog bounds agree with the daemon', async () => {
  expect(one('Restart')).toBe('on-failure')
  expect(one('RestartPreventExitStatus')).toBe('2')
  expect(seconds(one('RestartSec'))).toBeGreaterThan(0)
  expect(Number(one('LimitNOFILE'))).toBeGreaterThanOrEqual(65_536)
  // The daemon is gone server.shutdownTimeout + 5 s after SIGTERM (README); systemd must not SIGKILL it before.
  const cfg = (await loadConfig({file: CONFIG})).config
  expect(seconds(one('TimeoutStopSec'))).toBeGreaterThan(cfg.server.shutdownTimeout / 1000 + 5)
  expect(seconds(one('WatchdogSec'))).toBeGreaterThanOrEqual(10)
  // The example's paths are the ones the unit makes writable.
  expect(cfg.storage.dir).toBe('/var/cache/tavern')
  expect(path.dirname(cfg.accessLog.path)).toBe(`/var/log/${one('LogsDirectory')}`)
})

it('hardening options are set, and MemoryDenyWriteExecute is not (V8 needs W+X memory)', () => {
  for (const [k, v] of Object.entries({
    NoNewPrivileges: 'yes',
    ProtectSystem: 'strict',
    ProtectHome: 'yes',
    PrivateTmp: 'yes',
    PrivateDevices: 'yes',
    ProtectKernelTunables: 'yes',
    ProtectControlGroups: 'yes',
    RestrictNamespaces: 'yes',
    RestrictSUIDSGID: 'yes',
    LockPersonality: 'yes',
    CapabilityBoundingSet: '',
    UMask: '0077',
  })) {
    expect(one(k), k).toBe(v)
  }
  expect(svc.SystemCallFilter).toEqual(['@system-service', '~@privileged'])
  expect(one('RestrictAddressFamilies')).toBe('AF_UNIX AF_INET AF_INET6')
  expect(svc.MemoryDenyWriteExecute).toBeUndefined()
})

it.skipIf(!hasAnalyze)('systemd-analyze verify accepts it without a warning; its offline exposure score is low', () => {
  // verify checks that ExecStart= exists: point it at this tree's bin/run.js.
  const dir = makeTempDir()
  const copy = path.join(dir, 'tavern.service')
  fs.writeFileSync(copy, fs.readFileSync(UNIT, 'utf8').replaceAll('/usr/local/bin/tavern', BIN))
  const v = spawnSync('systemd-analyze', ['verify', copy], {encoding: 'utf8'})
  expect(v.status, v.stderr).toBe(0)
  // Unknown keys and bad values are only warnings for verify: there must be none.
  expect(v.stderr.trim()).toBe('')
  const s = spawnSync('systemd-analyze', ['security', '--offline=yes', copy], {encoding: 'utf8'})
  if (s.status !== 0 && /unrecognized option|--offline/.test(s.stderr)) return // older systemd: no offline mode
  const m = /Overall exposure level for tavern\.service: (\d+\.\d+)/.exec(s.stdout)
  expect(m, s.stdout + s.stderr).not.toBeNull()
  expect(Number(m![1])).toBeLessThanOrEqual(2.0)
})
