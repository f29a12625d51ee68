/**
 * tavern/client against a real 3-node cluster (daemons from dist/, one origin; issue #18 "the client dispatcher sends
 * each URL to its owner, asserted by the peers' counters, and falls back when the owner is down"): the dispatcher's
 * choice is the nodes' own, so no node forwards anything (every peer counter stays 0), the origin sees each URL once
 * and each node stores exactly the keys it owns; with a node stopped, its keys are served by the others.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {fetch} from 'undici'

import type {ClusterStatusBody} from '../../src/admin/protocol.js'
import {TavernDispatcher} from '../../src/client.js'
import {type Cluster, startCluster} from '../helpers/cluster.js'
import {type Origin, startOrigin} from '../helpers/origin.js'

const HOST = 'www.client.test'
const URLS = 60

describe('tavern/client with three daemons', () => {
  let origin: Origin
  let c: Cluster
  let d: TavernDispatcher

  beforeAll(async () => {
    origin = await startOrigin()
    origin.route('/obj', (req) => ({status: 200, headers: {'Cache-Control': 'max-age=600'}, body: `body of ${req.url}`}))
    c = await startCluster({origin: origin.url, cluster: {health: {interval: '1s', timeout: '1s', fall: 3, rise: 2}}})
    // Both sides on their default vnodes: the defaults must agree.
    d = new TavernDispatcher({peers: c.specs.map((s) => ({url: s.url})), downFor: 60_000})
  }, 60_000)

  afterAll(async () => {
    await d?.close()
    await c?.stopAll()
    await origin?.close()
  }, 30_000)

  const url = (i: number) => `http://${HOST}/obj?i=${i}`
  const clusterStatus = async (i: number) => JSON.parse((await c.nodes[i]!.admin('/status/cluster')).text) as ClusterStatusBody

  it('sends every URL to its owner: no node forwards, the origin sees each URL once, each node stores its own keys', async () => {
    for (let round = 0; round < 2; round++) {
      const bodies = await Promise.all(Array.from({length: URLS}, (_, i) => fetch(url(i), {dispatcher: d}).then((r) => r.text())))
      expect(bodies).toEqual(Array.from({length: URLS}, (_, i) => `body of /obj?i=${i}`))
    }
    expect(origin.requestsFor('/obj')).toHaveLength(URLS)
    const owned = new Map<string, number>()
    for (let i = 0; i < URLS; i++) owned.set(d.owner(url(i))!, (owned.get(d.owner(url(i))!) ?? 0) + 1)
    for (const [i, spec] of c.specs.entries()) {
      expect((await c.nodes[i]!.status()).storage.objects, `node ${i}`).toBe(owned.get(spec.url) ?? 0)
      const st = (await clusterStatus(i)).cluster!
      expect(st.peers.map((p) => [p.id, p.requestsIn, p.requestsOut]), `node ${i}`).toEqual(st.peers.map((p) => [p.id, 0, 0]))
      expect(st.fallbacks).toBe(0)
    }
  }, 30_000)

  it('with the owner stopped, its keys are served by the next node without a client error', async () => {
    const stopped = 1
    const id = c.specs[stopped]!.url
    const mine = Array.from({length: URLS}, (_, i) => i).filter((i) => d.owner(url(i)) === id)
    expect(mine.length).toBeGreaterThan(5)
    await c.nodes[stopped]!.stop('SIGTERM', 15_000)
    c.nodes[stopped] = undefined
    const answers = await Promise.all(mine.map((i) => fetch(url(i), {dispatcher: d}).then(async (r) => [r.status, await r.text()])))
    expect(answers).toEqual(mine.map((i) => [200, `body of /obj?i=${i}`]))
    expect(d.peersDown()).toEqual([id])
  }, 30_000)
})
