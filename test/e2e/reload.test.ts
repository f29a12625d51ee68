// `tavern reload` and SIGHUP: a valid config is applied to the running daemon; an invalid one is refused,
// named, and the running config keeps serving.
import fs from 'node:fs'

import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'

let origin: Origin
let d: DaemonHandle
let configFile: string

beforeAll(async () => {
  origin = await startOrigin()
  d = await startDaemon({upstream: origin.url, config: {cache: {xCache: false}}})
  const args = d.process.spawnargs
  configFile = args[args.indexOf('--config') + 1]!
}, 30_000)
afterAll(async () => {
  await d?.stop()
  await origin?.close()
}, 30_000)

function writeConfig(c: unknown): void {
  fs.writeFileSync(configFile, JSON.stringify(c))
}

async function xCache(): Promise<string | undefined> {
  const p = uniquePath('reload')
  origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'x'})
  return (await d.request(p)).header('x-cache')
}

async function until(cond: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await cond()) return true
    await sleep(50)
  }
  return false
}

it('tavern reload applies a valid config to the running daemon', async () => {
  expect(await xCache()).toBeUndefined()
  writeConfig({cache: {xCache: true}})
  const r = await runCli(['reload', '--socket', d.socket])
  expect(r.code, r.stderr).toBe(0)
  expect(r.stdout).toContain('reloaded config from')
  expect(await xCache()).toBe('MISS')
})

it('tavern reload refuses an invalid config, names the key, exits 1 and keeps the running config', async () => {
  writeConfig({cache: {xCache: false, maxVariants: 0}, bogus: 1})
  const r = await runCli(['reload', '--socket', d.socket])
  expect(r.code).toBe(1)
  expect(r.stderr).toContain('cache.maxVariants')
  expect(r.stderr).toContain('bogus')
  expect(await xCache()).toBe('MISS') // still the config applied by the previous reload
  const j = await runCli(['reload', '--json', '--socket', d.socket])
  expect(j.code).toBe(1)
  expect(JSON.parse(j.stdout).error.code).toBe('TAVERN_ERR_RELOAD_REFUSED')
})

it('SIGHUP reloads too, and an invalid file on SIGHUP is logged and ignored', async () => {
  writeConfig({cache: {xCache: false}})
  d.process.kill('SIGHUP')
  expect(await until(async () => (await xCache()) === undefined)).toBe(true)
  writeConfig({cache: {statusName: 'has space'}})
  d.process.kill('SIGHUP')
  expect(await until(async () => d.logs().includes('cache.statusName'))).toBe(true)
  expect(d.logLines().some((l) => l.msg === 'reload refused; keeping the running config' && JSON.stringify(l.problems).includes('cache.statusName'))).toBe(true)
  const p = uniquePath('reload')
  origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'x'})
  expect((await d.request(p)).header('cache-status')).toMatch(/^tavern; /)
})

it('a reload reports keys that need a restart, and flags given to serve still win', async () => {
  // --listen was given on the command line: the file's listen does not override it, so nothing changes there.
  writeConfig({listen: '127.0.0.1:1', server: {shutdownTimeout: '3s'}, cache: {xCache: false}})
  const r = await runCli(['reload', '--json', '--socket', d.socket])
  expect(r.code, r.stderr).toBe(0)
  const body = JSON.parse(r.stdout) as {restartRequired: string[]}
  expect(body.restartRequired).toEqual(['server'])
  expect((await d.status()).listeners.http).toBe(d.host)
})
