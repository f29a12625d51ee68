/**
 * Three real daemons whose ring comes from Redis (`cluster.membership.type: redis`, no peers list): they find each
 * other and agree on the ring (the origin sees each URL once), `purge --cluster` reaches the nodes Redis lists, a Redis
 * outage (killed, restarted empty) changes no ring, a node that stops is gone from the others at once, and one killed
 * without a goodbye is gone after ttl.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {ClusterStatusBody} from '../../src/admin/protocol.js'
import {type Cluster, startCluster} from '../helpers/cluster.js'
import {runCli} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {type RedisServer, redisServerPath, startRedis} from '../helpers/redis.js'
import {waitFor} from '../helpers/wait.js'

// Roomy for a loaded CI box: a heartbeat that stalls past ttl would drop a live node (and move its keys), and a
// command stalled past its timeout (min(1 s, ttl/2)) would count as a second outage.
const HEARTBEAT = 400
const TTL = 4000

describe.skipIf(!redisServerPath)('a cluster whose membership is in Redis', () => {
  let redis: RedisServer
  let origin: Origin
  let c: Cluster

  beforeAll(async () => {
    redis = (await startRedis())!
    origin = await startOrigin()
    c = await startCluster({
      origin: origin.url,
      peersFor: () => [],
      cluster: {trust: ['127.0.0.1'], membership: {type: 'redis', url: redis.url, prefix: 'e2e:', heartbeat: `${HEARTBEAT}ms`, ttl: `${TTL}ms`}},
    })
  }, 60_000)

  afterAll(async () => {
    await c?.stopAll()
    await origin?.close()
    await redis?.close()
  })

  const ring = async (i: number) => (JSON.parse((await c.nodes[i]!.admin('/status/cluster')).text) as ClusterStatusBody).cluster!.peers.map((p) => p.id)
  const ringsBuilt = (i: number) => c.nodes[i]!.logLines().filter((l) => l.msg === 'cluster ring built').length

  it('the nodes find each other, agree on the ring, and purge --cluster reaches every one', async () => {
    const all = c.specs.map((s) => s.url).sort()
    for (const i of [0, 1, 2]) await waitFor(async () => (await ring(i)).join() === all.join(), {timeoutMs: 5000, message: `node ${i} lists all three`})
    expect((JSON.parse((await c.nodes[0]!.admin('/status/cluster')).text) as ClusterStatusBody).cluster!.membership).toBe('redis')

    // One ring everywhere: each URL is fetched from the origin once, whichever node is asked.
    const dir = uniquePath('rm')
    const paths = Array.from({length: 24}, (_, i) => `${dir}/u${i}`)
    for (const p of paths) origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: p})
    for (let round = 0; round < 2; round++) for (const [i, p] of paths.entries()) expect((await c.nodes[(i + round) % 3]!.request(p, {headers: {host: 'site.test'}})).status).toBe(200)
    for (const p of paths) expect(origin.countFor(p), p).toBe(1)

    const r = await runCli(['purge', '--dir', `http://site.test${dir}/`, '--cluster', '--json', '--socket', c.nodes[0]!.socket])
    expect(r.code, r.stderr).toBe(0)
    const nodes = (JSON.parse(r.stdout) as {cluster: {nodes: Array<{node: string; ok: boolean; matched: number}>}}).cluster.nodes
    expect(nodes.map((n) => n.node).sort()).toEqual(all)
    expect(nodes.every((n) => n.ok)).toBe(true)
    expect(nodes.reduce((a, n) => a + n.matched, 0)).toBe(paths.length)
  })

  it('Redis killed, then restarted empty: no ring changes; the outage is logged once per node', async () => {
    const built = [0, 1, 2].map(ringsBuilt)
    await redis.stop()
    // Several failed beats and reconnection attempts.
    await new Promise((r) => setTimeout(r, 4 * HEARTBEAT))
    await redis.start()
    // Empty now: the nodes register again within a heartbeat or two (and their reconnect backoff), and drop no one
    // before one ttl has passed; the rings never shrank.
    await new Promise((r) => setTimeout(r, TTL + 4 * HEARTBEAT))
    for (const i of [0, 1, 2]) {
      expect(await ring(i)).toHaveLength(3)
      expect(ringsBuilt(i)).toBe(built[i])
      expect(c.nodes[i]!.logLines().filter((l) => l.msg === 'cluster membership: Redis unreachable, keeping the last peer list')).toHaveLength(1)
    }
  })

  it('a node that stops leaves the others at once; one killed leaves after ttl', async () => {
    const [a, b, gone] = c.specs.map((s) => s.url)
    await c.nodes[2]!.stop()
    const t0 = Date.now()
    for (const i of [0, 1]) await waitFor(async () => !(await ring(i)).includes(gone!), {timeoutMs: 5000, message: `node ${i} drops the stopped node`})
    expect(Date.now() - t0).toBeLessThan(TTL)

    await c.nodes[1]!.kill9()
    const t1 = Date.now()
    await waitFor(async () => (await ring(0)).join() === [a].join(), {timeoutMs: TTL + 5000, intervalMs: 50, message: 'node 0 drops the killed node'})
    expect(Date.now() - t1).toBeGreaterThanOrEqual(TTL - HEARTBEAT - 100)
    expect(b).toBeDefined()
  })
})
