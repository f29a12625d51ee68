/**
 * A static 3-node cluster on loopback ports, one origin (issue #18 "done when"): every URL is fetched from the origin
 * once for the whole cluster, each node stores only the keys the ring gives it, peers' hop headers are believed only
 * from peer addresses, and the counters of `status --cluster` add up.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Pool} from 'undici'

import {PeerRing, ringKeyOfUrl} from '../../src/cluster/peer-ring.js'
import {type Cluster, freePort, startCluster} from '../helpers/cluster.js'
import {runCli} from '../helpers/daemon.js'
import {type Origin, startOrigin} from '../helpers/origin.js'

const HOST = 'www.cluster.test'
const URLS = 1000
const ROUNDS = 5
/** 400 ring points per peer: with ketama's 160, one random 3-port ring in ~12 gives a peer more than ±15 % of 1/3. */
const VNODES = 400

interface ClusterStatusBody {
  cluster: {self: string; trust: string[]; fallbacks: number; peers: Array<{id: string; self: boolean; up: boolean; share: number; requestsOut: number; requestsIn: number}>} | null
}

async function get(pool: Pool, path: string, headers: Record<string, string> = {}): Promise<{status: number; body: string; headers: Record<string, string | string[] | undefined>}> {
  const r = await pool.request({path, method: 'GET', headers: {host: HOST, ...headers}})
  return {status: r.statusCode, body: await r.body.text(), headers: r.headers}
}

/** Run `jobs` with at most `n` at a time. */
async function inParallel<T>(jobs: Array<() => Promise<T>>, n: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length)
  let next = 0
  await Promise.all(
    Array.from({length: n}, async () => {
      while (next < jobs.length) {
        const i = next++
        out[i] = await jobs[i]!()
      }
    }),
  )
  return out
}

describe('cluster: 3 nodes, one origin', () => {
  let origin: Origin
  let c: Cluster
  let pools: Pool[]
  let ring: PeerRing
  let metricsPort: number

  beforeAll(async () => {
    origin = await startOrigin()
    origin.route('/obj', (req) => ({status: 200, headers: {'Cache-Control': 'max-age=600', 'Content-Type': 'text/plain'}, body: `body of ${req.url}`}))
    origin.route('/trust', (req) => ({status: 200, headers: {'Cache-Control': 'max-age=600'}, body: `trust ${req.url} ${req.header('tavern-peer') ?? '-'}`}))
    // Patient probes: on a loaded machine a probe timing out must not move keys (and fetch them twice).
    metricsPort = await freePort()
    c = await startCluster({
      origin: origin.url,
      cluster: {vnodes: VNODES, health: {interval: '1s', timeout: '1s', fall: 3, rise: 2}},
      configFor: (i) => (i === 0 ? {metrics: {listen: `127.0.0.1:${metricsPort}`}} : {}),
    })
    pools = c.nodes.map((d) => new Pool(d!.url, {connections: 16}))
    ring = new PeerRing(c.specs.map((s) => ({url: s.url})), {vnodes: VNODES})
  }, 60_000)

  afterAll(async () => {
    await Promise.all(pools?.map((p) => p.close()) ?? [])
    await c?.stopAll()
    await origin?.close()
  }, 30_000)

  it(`${URLS} URLs × ${ROUNDS} through random nodes: the origin sees each URL once, each node stores its share`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const order = Array.from({length: URLS}, (_, i) => i).sort(() => Math.random() - 0.5)
      const results = await inParallel(
        order.map((i) => () => get(pools[Math.floor(Math.random() * 3)]!, `/obj?i=${i}`).then((r) => ({i, ...r}))),
        24,
      )
      const bad = results.filter((r) => r.status !== 200 || r.body !== `body of /obj?i=${r.i}`)
      expect(bad.slice(0, 3), `round ${round}`).toEqual([])
    }
    const perUrl = new Map<string, number>()
    for (const r of origin.requestsFor('/obj')) perUrl.set(r.url, (perUrl.get(r.url) ?? 0) + 1)
    expect(perUrl.size).toBe(URLS)
    // A peer seen down (a probe timing out on a loaded machine) moves keys, and they are fetched again: say so.
    const moves = c.nodes.flatMap((d, i) => d!.logLines().filter((l) => String(l.msg).startsWith('cluster peer')).map((l) => `node ${i}: ${String(l.msg)} ${String(l.peer)} (${String(l.reason)})`))
    expect([...perUrl].filter(([, n]) => n !== 1), moves.join('\n')).toEqual([])
    // Each node stores exactly the keys the ring gives it (none of the others'), and that is about a third.
    const expected = new Map<string, number>()
    for (let i = 0; i < URLS; i++) {
      const o = ring.owner(ringKeyOfUrl(`http://${HOST}/obj?i=${i}`)!)!
      expected.set(o, (expected.get(o) ?? 0) + 1)
    }
    for (const [i, d] of c.nodes.entries()) {
      const objects = (await d!.status()).storage.objects
      expect(objects, `node ${i}`).toBe(expected.get(c.specs[i]!.url) ?? 0)
      expect(objects / URLS, `node ${i}`).toBeGreaterThan((1 / 3) * 0.85)
      expect(objects / URLS, `node ${i}`).toBeLessThan((1 / 3) * 1.15)
    }
    // What one node forwarded to another, the other served for it.
    const st = await Promise.all(c.nodes.map(async (d) => JSON.parse((await d!.admin('/status/cluster')).text) as ClusterStatusBody))
    for (const [i, a] of st.entries()) {
      for (const [j, b] of st.entries()) {
        if (i === j) continue
        const out = a.cluster!.peers.find((p) => p.id === c.specs[j]!.url)!.requestsOut
        const inn = b.cluster!.peers.find((p) => p.id === c.specs[i]!.url)!.requestsIn
        expect(out, `node ${i} → node ${j}`).toBe(inn)
        expect(out).toBeGreaterThan(0)
      }
      expect(a.cluster!.fallbacks).toBe(0)
    }
    // The same counters on /metrics, and every peer up.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    const peer1 = c.specs[1]!.url
    const out01 = st[0]!.cluster!.peers.find((p) => p.id === peer1)!.requestsOut
    expect(metrics).toContain(`tavern_peer_requests_total{peer="${peer1}",direction="out"} ${out01}`)
    expect(metrics).toContain(`tavern_peer_up{peer="${peer1}"} 1`)
  }, 60_000)

  it('a hop header from an address that is no peer is not believed (stripped, the request routed as any client’s)', async () => {
    // A path this node does not own: a trusted hop would be served (and stored) here; an untrusted one goes to the owner.
    const path = Array.from({length: 200}, (_, i) => `/trust?u=${i}`).find((p) => ring.owner(ringKeyOfUrl(`http://${HOST}${p}`)!) !== c.specs[0]!.url)!
    const owner = c.specs.findIndex((s) => s.url === ring.owner(ringKeyOfUrl(`http://${HOST}${path}`)!))
    const stranger = new Pool(c.nodes[0]!.url, {localAddress: '127.0.0.2'})
    try {
      const before = (await c.nodes[0]!.status()).storage.objects
      const r = await stranger.request({path, method: 'GET', headers: {host: HOST, 'tavern-peer': c.specs[1]!.url}})
      const body = await r.body.text()
      expect(r.statusCode).toBe(200)
      // The origin never sees the header; the node did not keep the answer (its owner did).
      expect(body).toBe(`trust ${path} -`)
      expect(String(r.headers['cache-status'])).toContain(`owned by peer ${c.specs[owner]!.url}`)
      expect((await c.nodes[0]!.status()).storage.objects).toBe(before)
      // The same from a peer's address is believed: served (and stored) where it arrived.
      const path2 = path.replace('/trust?', '/trust?again&')
      const trusted = await get(pools[0]!, path2, {'tavern-peer': c.specs[1]!.url})
      expect(trusted.status).toBe(200)
      expect(String(trusted.headers['cache-status'])).not.toContain('owned by peer')
      expect(trusted.body).toBe(`trust ${path2} -`)
      // An absolute-form https:// target from a stranger is keyed under the listener's scheme (http://)…
      const abs = await stranger.request({path: `https://${HOST}/trust?abs=1`, method: 'GET', headers: {host: HOST, 'tavern-peer': c.specs[1]!.url}})
      await abs.body.text()
      expect(abs.statusCode).toBe(200)
      const absOwner = c.specs.findIndex((s) => s.url === ring.owner(ringKeyOfUrl(`http://${HOST}/trust?abs=1`)!))
      const seen = JSON.parse((await c.nodes[absOwner]!.admin(`/keys/inspect?url=${encodeURIComponent(`http://${HOST}/trust?abs=1`)}`)).text) as {stored: boolean}
      expect(seen.stored).toBe(true)
    } finally {
      await stranger.close()
    }
    // …and from a peer (hop header, peer address) under its own: served here as an https:// key, so the http://
    // URL names nothing stored (without TLS listeners, operator URLs name http:// keys).
    const before = (await c.nodes[0]!.status()).storage.objects
    const peerAbs = await pools[0]!.request({path: `https://${HOST}/trust?abs=2`, method: 'GET', headers: {host: HOST, 'tavern-peer': c.specs[1]!.url}})
    await peerAbs.body.text()
    expect(peerAbs.statusCode).toBe(200)
    expect((await c.nodes[0]!.status()).storage.objects).toBe(before + 1)
    const http = JSON.parse((await c.nodes[0]!.admin(`/keys/inspect?url=${encodeURIComponent(`http://${HOST}/trust?abs=2`)}`)).text) as {stored: boolean}
    expect(http.stored).toBe(false)
  })

  it('status --cluster shows the ring: self, peers, shares, health, traffic (and --json)', async () => {
    const d = c.nodes[1]!
    const text = await runCli(['status', '--cluster', '--socket', d.socket])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain(`self ${c.specs[1]!.url}`)
    for (const s of c.specs) expect(text.stdout).toContain(s.url)
    expect(text.stdout).toMatch(/share/)
    const json = await runCli(['status', '--cluster', '--json', '--socket', d.socket])
    const body = JSON.parse(json.stdout) as ClusterStatusBody
    expect(body.cluster!.self).toBe(c.specs[1]!.url)
    expect(body.cluster!.peers.map((p) => p.id).sort()).toEqual(c.specs.map((s) => s.url).sort())
    expect(body.cluster!.peers.every((p) => p.up)).toBe(true)
    const total = body.cluster!.peers.reduce((n, p) => n + p.share, 0)
    expect(total).toBeCloseTo(1, 5)
  })
})
