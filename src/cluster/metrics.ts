/**
 * Prometheus metrics of the cluster, read from the node at scrape time (the request path only counts):
 *
 *   tavern_peer_requests_total{peer,direction}   out: forwarded to the peer that owns the key; in: served for a peer
 *   tavern_peer_up{peer}                          1 when this node sends the peer its keys (itself: 1), else 0
 *   tavern_peer_fallbacks_total                   requests for other peers' keys no peer could take (origin asked)
 */
import {Counter, Gauge, type Registry} from 'prom-client'

import type {ClusterNode} from './node.js'

export function registerClusterMetrics(registry: Registry, node: () => ClusterNode | undefined): void {
  const registers = [registry]
  // Counters of a node a reload replaced are carried over by keeping the totals here.
  const carried = new Map<string, number>()
  let last: ClusterNode | undefined
  let lastTotals = new Map<string, number>()
  let carriedFallbacks = 0
  let lastFallbacks = 0
  const totals = (): Map<string, number> => {
    const n = node()
    if (n !== last) {
      for (const [k, v] of lastTotals) carried.set(k, (carried.get(k) ?? 0) + v)
      carriedFallbacks += lastFallbacks
      last = n
    }
    const now = new Map<string, number>()
    for (const [peer, c] of n?.peerCounters() ?? []) {
      now.set(`${peer}\u0000out`, c.out)
      now.set(`${peer}\u0000in`, c.in)
    }
    lastTotals = now
    lastFallbacks = n?.fallbackTotal ?? 0
    const out = new Map(carried)
    for (const [k, v] of now) out.set(k, (out.get(k) ?? 0) + v)
    return out
  }
  new Counter({
    name: 'tavern_peer_requests_total',
    help: 'Requests exchanged with cluster peers: out = forwarded to the owner of the key, in = served for a peer',
    labelNames: ['peer', 'direction'] as const,
    registers,
    collect() {
      this.reset()
      for (const [k, v] of totals()) {
        const [peer, direction] = k.split('\u0000') as [string, string]
        this.inc({peer, direction}, v)
      }
    },
  })
  new Counter({
    name: 'tavern_peer_fallbacks_total',
    help: 'Requests for keys another peer owns that no peer could take: this node asked the origin itself',
    registers,
    collect() {
      this.reset()
      totals()
      this.inc(carriedFallbacks + lastFallbacks)
    },
  })
  new Gauge({
    name: 'tavern_peer_up',
    help: 'Cluster peer this node sends its keys to: 1, down: 0 (this node itself: 1)',
    labelNames: ['peer'] as const,
    registers,
    collect() {
      this.reset()
      for (const {peer, up} of node()?.peerUp() ?? []) this.set({peer}, up ? 1 : 0)
    },
  })
}
