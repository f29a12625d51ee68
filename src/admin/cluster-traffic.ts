/**
 * The cluster part of `GET /stats`: what `tavern top` shows of the peers, read on every poll (100 ms at the fastest,
 * and once a second per `/stats/stream` reader). Counters and health are read fresh. The key shares come from the
 * node's full status, which samples the ring 20,000 times (about 100 ms of this thread, the data plane's), so they are
 * reused while the node, its ring members and their health stay the same, and refreshed at least every `shareMaxAgeMs`
 * (a dynamic membership may change a weight alone).
 */
import type {ClusterStatus, ClusterTraffic} from './protocol.js'

/** What the feed reads of a cluster node (src/cluster/node.ts's ClusterNode). */
export interface ClusterTrafficNode {
  status(): ClusterStatus
  peerCounters(): ReadonlyMap<string, Readonly<{out: number; in: number}>>
  peerUp(): ReadonlyArray<{peer: string; up: boolean}>
  readonly self: string
  readonly fallbackTotal: number
}

export interface ClusterTrafficOptions {
  now?: () => number
  /** Recompute the shares at least this often (default 60 s). */
  shareMaxAgeMs?: number
}

interface Shares {
  node: ClusterTrafficNode
  signature: string
  at: number
  byPeer: Map<string, {weight: number; share: number; liveShare: number}>
}

export function clusterTrafficFeed(node: () => ClusterTrafficNode | undefined, o: ClusterTrafficOptions = {}): () => ClusterTraffic | undefined {
  const now = o.now ?? Date.now
  const maxAge = o.shareMaxAgeMs ?? 60_000
  let memo: Shares | undefined
  return () => {
    const n = node()
    if (!n) {
      memo = undefined
      return undefined
    }
    const up = n.peerUp()
    const signature = up.map((p) => `${p.peer}${p.up ? '+' : '-'}`).join(' ')
    const t = now()
    if (!memo || memo.node !== n || memo.signature !== signature || t - memo.at >= maxAge) {
      const byPeer = new Map(n.status().peers.map((p) => [p.id, {weight: p.weight, share: p.share, liveShare: p.liveShare}]))
      memo = {node: n, signature, at: t, byPeer}
    }
    const counters = n.peerCounters()
    const shares = memo.byPeer
    return {
      self: n.self,
      fallbacks: n.fallbackTotal,
      peers: up.map(({peer, up: isUp}) => {
        const s = shares.get(peer)
        const c = counters.get(peer)
        return {
          id: peer,
          self: peer === n.self,
          weight: s?.weight ?? 1,
          up: isUp,
          share: s?.share ?? 0,
          liveShare: s?.liveShare ?? 0,
          requestsOut: c?.out ?? 0,
          requestsIn: c?.in ?? 0,
        }
      }),
    }
  }
}
