// The command line as a user sees it: status against a running daemon, errors without stack traces, config check.
import fs from 'node:fs'
import path from 'node:path'

import {expect, it} from 'vitest'

import {makeTempDir, runCli} from '../helpers/daemon.js'
import {useProxy} from '../helpers/fixture.js'

const t = useProxy()

const noStack = (s: string) => expect(s).not.toMatch(/^\s+at .+\(.*:\d+:\d+\)$/m)

it.concurrent('status --json prints valid JSON with pid and version', async () => {
  const r = await runCli(['status', '--json', '--socket', t.daemon.socket])
  expect(r.code, r.stderr).toBe(0)
  const j = JSON.parse(r.stdout) as {pid: number; version: string; counters: unknown}
  expect(j.pid).toBe(t.daemon.pid)
  expect(j.version).toMatch(/^\d+\.\d+\.\d+/)
  expect(j.counters).toBeTypeOf('object')
})

it.concurrent('status (human) mentions the pid and the listen address', async () => {
  const r = await runCli(['status', '--socket', t.daemon.socket])
  expect(r.code, r.stderr).toBe(0)
  expect(r.stdout).toContain(String(t.daemon.pid))
  expect(r.stdout).toContain(t.daemon.host)
})

it.concurrent('status with no daemon exits 3 with a plain message (no stack trace)', async () => {
  const sock = path.join(makeTempDir(), 'nobody.sock')
  const r = await runCli(['status', '--socket', sock])
  expect(r.code).toBe(3)
  const out = r.stdout + r.stderr
  expect(out.trim().length).toBeGreaterThan(0)
  noStack(out)
})

it.concurrent('status --json with no daemon also exits 3 without a stack trace', async () => {
  const sock = path.join(makeTempDir(), 'nobody.sock')
  const r = await runCli(['status', '--json', '--socket', sock])
  expect(r.code).toBe(3)
  noStack(r.stdout + r.stderr)
})

function writeConfig(name: string, content: string): string {
  const f = path.join(makeTempDir(), name)
  fs.writeFileSync(f, content)
  return f
}

it.concurrent('config check: an invalid value names the key (listen)', async () => {
  const r = await runCli(['config', 'check', '-c', writeConfig('bad.json', JSON.stringify({listen: 'nope'}))])
  expect(r.code).not.toBe(0)
  expect(r.stdout + r.stderr).toContain('listen')
  noStack(r.stdout + r.stderr)
})

it.concurrent('config check: an unknown key is named (foo)', async () => {
  const r = await runCli(['config', 'check', '-c', writeConfig('bad.json', JSON.stringify({foo: 1}))])
  expect(r.code).not.toBe(0)
  expect(r.stdout + r.stderr).toContain('foo')
})

it.concurrent('config check: a nested bad value names the full key path', async () => {
  const r = await runCli(['config', 'check', '-c', writeConfig('bad.json', JSON.stringify({storage: {maxDiskBytes: 'lots'}}))])
  expect(r.code).not.toBe(0)
  expect(r.stdout + r.stderr).toContain('maxDiskBytes')
})

it.concurrent('config check: malformed JSON fails cleanly', async () => {
  const r = await runCli(['config', 'check', '-c', writeConfig('broken.json', '{"listen": ')])
  expect(r.code).not.toBe(0)
  noStack(r.stdout + r.stderr)
})

it.concurrent('config check: a good JSON file → exit 0', async () => {
  const r = await runCli(['config', 'check', '-c', writeConfig('good.json', JSON.stringify({listen: '127.0.0.1:8081', upstreams: ['http://127.0.0.1:3000']}))])
  expect(r.code, r.stdout + r.stderr).toBe(0)
})

it.concurrent('config check: a good YAML file → exit 0', async () => {
  const r = await runCli(['config', 'check', '-c', writeConfig('tavern.config.yaml', 'listen: 127.0.0.1:8081\nupstreams:\n  - http://127.0.0.1:3000\n')])
  expect(r.code, r.stdout + r.stderr).toBe(0)
})

it.concurrent('config check: a missing file fails with a plain message', async () => {
  const r = await runCli(['config', 'check', '-c', path.join(makeTempDir(), 'missing.json')])
  expect(r.code).not.toBe(0)
  noStack(r.stdout + r.stderr)
})

it.concurrent('serve with an invalid config exits non-zero naming the key, without starting', async () => {
  const r = await runCli(['serve', '--upstream', t.origin.url, '--socket', path.join(makeTempDir(), 's.sock'), '-c', writeConfig('bad.json', JSON.stringify({listen: 'nope'}))])
  expect(r.code).not.toBe(0)
  expect(r.stdout + r.stderr).toContain('listen')
})
