/**
 * Cluster peers that misbehave, and nodes that disagree about the ring:
 * - a "peer" (a raw server, listed in the ring, answering the health probes) that resets in the middle of a body:
 *   the client gets an aborted response, nothing is stored anywhere, the origin is not asked behind its back;
 * - a peer that never answers: after cluster.headersTimeout the node serves the request from the origin itself;
 * - two real nodes whose peer lists differ (one also lists a dead address): every request is answered, with one
 *   hop at most (a forwarded request is served where it arrives, whatever that node's ring says).
 */
import http from 'node:http'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Pool} from 'undici'

import {PeerRing, ringKeyOfUrl} from '../../src/cluster/peer-ring.js'
import {type Cluster, FAST_HEALTH, freePort, startCluster} from '../helpers/cluster.js'
import {makeTempDir, startDaemon, type DaemonHandle} from '../helpers/daemon.js'
import {type Origin, startOrigin} from '../helpers/origin.js'

const HOST = 'www.hostile-peer.test'
const FAST_HEALTH_PATH = '/.well-known/tavern-peer'

describe('a misbehaving peer', () => {
  let origin: Origin
  let fake: http.Server
  let fakeUrl: string
  let node: DaemonHandle
  let pool: Pool
  let ring: PeerRing
  const seenByFake: string[] = []

  beforeAll(async () => {
    origin = await startOrigin()
    origin.route('/x', (req) => ({status: 200, headers: {'Cache-Control': 'max-age=600'}, body: `origin ${req.url}`}))
    fake = http.createServer((req, res) => {
      const url = req.url ?? ''
      if (url === FAST_HEALTH_PATH) return void res.writeHead(204).end()
      seenByFake.push(url)
      if (url.includes('reset')) {
        res.writeHead(200, {'Content-Length': '100000', 'Cache-Control': 'max-age=600'})
        res.write('x'.repeat(1000), () => setTimeout(() => res.socket?.destroy(), 50))
        return
      }
      // 'hang': the head never comes.
    })
    fake.on('error', () => {})
    fakeUrl = await new Promise<string>((r) => fake.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(fake.address() as {port: number}).port}`)))
    const port = await freePort()
    const self = `http://127.0.0.1:${port}`
    const dir = makeTempDir('tavern-hostile-peer-')
    node = await startDaemon({
      bare: true,
      config: {
        listen: `127.0.0.1:${port}`,
        socket: `${dir}/admin.sock`,
        storage: {dir: `${dir}/storage`},
        upstreams: [origin.url],
        cluster: {self, peers: [self, fakeUrl], health: {...FAST_HEALTH, path: FAST_HEALTH_PATH}, headersTimeout: '800ms'},
      },
    })
    pool = new Pool(node.url)
    ring = new PeerRing([{url: self}, {url: fakeUrl}])
  }, 60_000)

  afterAll(async () => {
    await pool?.close()
    await node?.stop('SIGTERM', 15_000).catch(() => node.kill9())
    fake?.closeAllConnections()
    await new Promise((r) => fake?.close(r))
    await origin?.close()
  }, 30_000)

  /** A path of `kind` the fake peer owns. */
  const ownedByFake = (kind: string) => Array.from({length: 200}, (_, i) => `/x?${kind}=${i}`).find((p) => ring.owner(ringKeyOfUrl(`http://${HOST}${p}`)!) === fakeUrl)!

  it('resets mid-body: the client sees an aborted response, nothing is stored, the origin is not asked', async () => {
    const path = ownedByFake('reset')
    let received = 0
    let failed = false
    try {
      const r = await pool.request({path, method: 'GET', headers: {host: HOST}})
      expect(r.statusCode).toBe(200)
      for await (const chunk of r.body) received += (chunk as Buffer).length
    } catch {
      failed = true
    }
    expect(failed, `a cut body must not end like a complete one (got ${received} bytes)`).toBe(true)
    expect(received).toBeLessThan(100_000)
    expect(seenByFake).toContain(`http://${HOST}${path}`)
    expect(origin.requestsFor('/x').filter((r) => r.url === path)).toEqual([])
    const inspect = JSON.parse((await node.admin(`/keys/inspect?url=${encodeURIComponent(`http://${HOST}${path}`)}`)).text) as {stored: boolean}
    expect(inspect.stored).toBe(false)
    expect((await node.status()).storage.objects).toBe(0)
  })

  it('hangs: after cluster.headersTimeout the node asks the origin itself', async () => {
    const path = ownedByFake('hang')
    const t0 = Date.now()
    const r = await pool.request({path, method: 'GET', headers: {host: HOST}})
    const body = await r.body.text()
    expect(r.statusCode).toBe(200)
    expect(body).toBe(`origin ${path}`)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700)
    expect(seenByFake).toContain(`http://${HOST}${path}`)
    // Served from the origin past this node's cache: it stores only what it owns.
    expect((await node.status()).storage.objects).toBe(0)
  })
})

describe('two nodes that disagree about the ring', () => {
  let origin: Origin
  let c: Cluster
  let pools: Pool[]

  beforeAll(async () => {
    origin = await startOrigin()
    origin.route('/r', (req) => ({status: 200, headers: {'Cache-Control': 'max-age=600'}, body: `ring ${req.url}`}))
    const dead = `http://127.0.0.1:${await freePort()}`
    c = await startCluster({size: 2, origin: origin.url, peersFor: (i, all) => (i === 0 ? all.map((s) => s.url) : [...all.map((s) => s.url), dead])})
    pools = c.nodes.map((d) => new Pool(d!.url, {connections: 8}))
  }, 60_000)

  afterAll(async () => {
    await Promise.all(pools?.map((p) => p.close()) ?? [])
    await c?.stopAll()
    await origin?.close()
  }, 30_000)

  it('every request is answered, one hop at most', async () => {
    const results = await Promise.all(
      Array.from({length: 80}, async (_, i) => {
        const r = await pools[i % 2]!.request({path: `/r?i=${i}`, method: 'GET', headers: {host: HOST}})
        return {i, status: r.statusCode, body: await r.body.text(), via: String(r.headers.via ?? '')}
      }),
    )
    expect(results.filter((r) => r.status !== 200 || r.body !== `ring /r?i=${r.i}`)).toEqual([])
    // One Via entry per Tavern the answer passed: two at most (the node asked, and the owner it forwarded to).
    for (const r of results) expect(r.via.split(',').length, r.via).toBeLessThanOrEqual(2)
    for (const req of origin.requestsFor('/r')) expect(req.header('via')!.split(',').length).toBeLessThanOrEqual(2)
    expect(origin.requestsFor('/r').length).toBeGreaterThanOrEqual(80)
  })
})
