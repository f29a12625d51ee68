/**
 * `tavern reload` and the cluster section: a changed peer list applies at once (new ring, probes, pools), a bad one
 * is refused naming the key while the running ring keeps routing, and removing the section leaves the cluster.
 */
import fs from 'node:fs'
import http from 'node:http'

import {afterAll, beforeAll, expect, it} from 'vitest'

import {freePort} from '../helpers/cluster.js'
import {type DaemonHandle, makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin} from '../helpers/origin.js'

const HOST = 'www.reload-cluster.test'

interface Fake {
  url: string
  server: http.Server
  seen: string[]
}

async function fakePeer(): Promise<Fake> {
  const f: Fake = {url: '', server: http.createServer(), seen: []}
  f.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if ((req.url ?? '').startsWith('/')) return void res.writeHead(204).end()
    f.seen.push(req.url ?? '')
    res.writeHead(200, {'Cache-Control': 'max-age=60'}).end('fake')
  })
  f.server.on('error', () => {})
  const port = await new Promise<number>((r) => f.server.listen(0, '127.0.0.1', () => r((f.server.address() as {port: number}).port)))
  f.url = `http://127.0.0.1:${port}`
  return f
}

let origin: Origin
let d: DaemonHandle
let a: Fake
let b: Fake
let self: string
let configFile: string
let base: Record<string, unknown>

beforeAll(async () => {
  origin = await startOrigin()
  origin.route('/r', {headers: {'Cache-Control': 'max-age=60'}, body: 'origin'})
  a = await fakePeer()
  b = await fakePeer()
  const port = await freePort()
  self = `http://127.0.0.1:${port}`
  const dir = makeTempDir('tavern-cluster-reload-')
  base = {listen: `127.0.0.1:${port}`, socket: `${dir}/admin.sock`, storage: {dir: `${dir}/storage`}, upstreams: [origin.url]}
  d = await startDaemon({bare: true, config: {...base, cluster: {self, peers: [self, a.url]}}})
  const args = d.process.spawnargs
  configFile = args[args.indexOf('--config') + 1]!
}, 60_000)

afterAll(async () => {
  await d?.stop('SIGTERM', 15_000).catch(() => d.kill9())
  for (const f of [a, b]) {
    f?.server.closeAllConnections()
    f?.server.close()
  }
  await origin?.close()
}, 30_000)

async function peers(): Promise<string[] | null> {
  const body = JSON.parse((await d.admin('/status/cluster')).text) as {cluster: {peers: Array<{id: string}>} | null}
  return body.cluster && body.cluster.peers.map((p) => p.id).sort()
}

/** Request many paths; which fake peers got some. */
async function spread(tag: string): Promise<{a: number; b: number; origin: number}> {
  const n = {a: a.seen.length, b: b.seen.length, origin: origin.requestsFor('/r').length}
  for (let i = 0; i < 30; i++) await d.request(`/r?${tag}=${i}`, {headers: {host: HOST}})
  return {a: a.seen.length - n.a, b: b.seen.length - n.b, origin: origin.requestsFor('/r').length - n.origin}
}

it('a changed peer list applies on reload; a bad one is refused naming the key; no section: no cluster', async () => {
  expect(await peers()).toEqual([self, a.url].sort())
  const before = await spread('one')
  expect(before.a).toBeGreaterThan(0)
  expect(before.b).toBe(0)

  fs.writeFileSync(configFile, JSON.stringify({...base, cluster: {self, peers: [self, b.url]}}))
  const r = await runCli(['reload', '--socket', d.socket])
  expect(r.code, r.stderr).toBe(0)
  expect(await peers()).toEqual([self, b.url].sort())
  const after = await spread('two')
  expect(after.a).toBe(0)
  expect(after.b).toBeGreaterThan(0)

  fs.writeFileSync(configFile, JSON.stringify({...base, cluster: {self: 'http://127.0.0.1:1', peers: [self, a.url]}}))
  const bad = await runCli(['reload', '--socket', d.socket])
  expect(bad.code).toBe(1)
  expect(bad.stdout + bad.stderr).toContain('cluster.self: http://127.0.0.1:1 is not one of cluster.peers')
  expect(await peers()).toEqual([self, b.url].sort())

  fs.writeFileSync(configFile, JSON.stringify(base))
  expect((await runCli(['reload', '--socket', d.socket])).code).toBe(0)
  expect(await peers()).toBeNull()
  const alone = await spread('three')
  expect(alone).toEqual({a: 0, b: 0, origin: 30})
})
