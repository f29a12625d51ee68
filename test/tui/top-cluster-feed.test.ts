// The cluster part of GET /stats that `tavern top` shows, from real daemons: a 2-node cluster's snapshot carries
// each peer's state, share and counters (the same as /status/cluster), a plain daemon's has no `cluster` at all.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {ClusterStatusBody, TopSnapshot} from '../../src/admin/protocol.js'
import {type Cluster, startCluster} from '../helpers/cluster.js'
import {type DaemonHandle, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin} from '../helpers/origin.js'

/** On a loaded machine a probe timing out must not take a peer down between the two reads compared below. */
const PATIENT = {interval: '1s', timeout: '1s', fall: 3, rise: 2}

describe('GET /stats: the cluster part for tavern top', () => {
  let origin: Origin
  let c: Cluster
  let plain: DaemonHandle

  beforeAll(async () => {
    origin = await startOrigin()
    origin.route('/obj', (req) => ({status: 200, headers: {'Cache-Control': 'max-age=600'}, body: `body of ${req.url}`}))
    ;[c, plain] = await Promise.all([startCluster({size: 2, origin: origin.url, logLevel: 'warn', cluster: {health: PATIENT}}), startDaemon({upstream: origin.url})])
  }, 60_000)

  afterAll(async () => {
    await c?.stopAll()
    await plain?.stop()
    await origin?.close()
  }, 30_000)

  it("a clustered daemon's snapshot has every peer with the counters of /status/cluster; top --once lists them", async () => {
    const [a, b] = [c.nodes[0]!, c.nodes[1]!]
    // 40 URLs through node a: about half are node b's keys, forwarded (the chance that none is: 2^-40).
    for (let i = 0; i < 40; i++) expect((await a.request(`/obj?i=${i}`)).status).toBe(200)
    const stats = JSON.parse((await a.admin('/stats')).text) as TopSnapshot
    const status = (JSON.parse((await a.admin('/status/cluster')).text) as ClusterStatusBody).cluster!
    expect(stats.cluster).toBeDefined()
    const cl = stats.cluster!
    expect(cl.self).toBe(c.specs[0]!.url)
    expect(cl.peers.map((p) => p.id)).toEqual(status.peers.map((p) => p.id))
    for (const p of cl.peers) {
      const s = status.peers.find((x) => x.id === p.id)!
      expect(p, p.id).toEqual({id: s.id, self: s.self, weight: s.weight, up: s.up, share: s.share, liveShare: s.liveShare, requestsOut: s.requestsOut, requestsIn: s.requestsIn})
    }
    const toB = cl.peers.find((p) => p.id === c.specs[1]!.url)!
    expect(toB.requestsOut).toBeGreaterThan(0)
    // What a forwarded, b served for it: b's snapshot says so too.
    const atB = (JSON.parse((await b.admin('/stats')).text) as TopSnapshot).cluster!.peers.find((p) => p.id === c.specs[0]!.url)!
    expect(atB.requestsIn).toBe(toB.requestsOut)

    // More traffic: the next snapshot's counters move on with it.
    for (let i = 40; i < 60; i++) expect((await a.request(`/obj?i=${i}`)).status).toBe(200)
    const later = (JSON.parse((await a.admin('/stats')).text) as TopSnapshot).cluster!
    const outNow = (JSON.parse((await a.admin('/status/cluster')).text) as ClusterStatusBody).cluster!.peers.find((p) => p.id === toB.id)!.requestsOut
    expect(later.peers.find((p) => p.id === toB.id)!.requestsOut).toBe(outNow)
    expect(later.peers.find((p) => p.id === toB.id)!.share).toBe(toB.share)

    const top = await runCli(['top', '--once', '--socket', a.socket])
    expect(top.code, top.stderr).toBe(0)
    expect(top.stdout).toContain('cluster       2 peers, 0 down, 0 fallbacks to the origin')
    expect(top.stdout).toMatch(new RegExp(`peer {10}up {3}${toB.id.replaceAll('.', '\\.')}  share \\d+\\.\\d%, out \\d+, in \\d+`))
    expect(top.stdout).toMatch(/peer {10}self /)
  }, 30_000)

  it("a daemon without a cluster section: no `cluster` in the snapshot, no cluster lines in top", async () => {
    const stats = JSON.parse((await plain.admin('/stats')).text) as Record<string, unknown>
    expect(Object.keys(stats)).not.toContain('cluster')
    const top = await runCli(['top', '--once', '--socket', plain.socket])
    expect(top.code, top.stderr).toBe(0)
    expect(top.stdout).toContain('requests/s')
    expect(top.stdout).not.toMatch(/^(cluster|peer) /m)
  }, 30_000)
})
