/**
 * Where a node learns the peer list from. The node (src/cluster/node.ts) starts one Membership and rebuilds its
 * PeerRing (and peer health checks) each time onChange reports a list; `static` reports the config's `peers` once.
 * `redis` (redis-membership.ts): the live registrations in Redis, reported again whenever they change.
 */
import type {BackgroundRunner} from '../core/background.js'
import {type ClusterConfig, peerSpecs} from './config.js'
import type {PeerSpec} from './peer-ring.js'
import {type MembershipLog, RedisMembership} from './redis-membership.js'

export interface Membership {
  /**
   * Begin; `onChange` gets the current peer list as soon as it is known (the static list synchronously, before
   * start returns) and again on every change. The list always contains this node (`cluster.self`).
   */
  start(onChange: (peers: PeerSpec[]) => void): void | Promise<void>
  /** Stop reporting (timers, connections); onChange is not called after it resolves. */
  close(): Promise<void>
}

/** The config's peers, reported once. */
export class StaticMembership implements Membership {
  constructor(private readonly peers: readonly PeerSpec[]) {}

  start(onChange: (peers: PeerSpec[]) => void): void {
    onChange(this.peers.map((p) => ({...p})))
  }

  async close(): Promise<void> {}
}

/** What a dynamic membership reports with and runs its beats on (the node's deps). */
export interface MembershipDeps {
  log?: MembershipLog
  background?: BackgroundRunner
}

/** The membership a config asks for. */
export function createMembership(c: ClusterConfig, deps: MembershipDeps = {}): Membership {
  const m = c.membership
  switch (m.type) {
    case 'static':
      return new StaticMembership(peerSpecs(c))
    case 'redis':
      return new RedisMembership({url: m.url, prefix: m.prefix, heartbeatMs: m.heartbeat, ttlMs: m.ttl, self: {url: c.self, weight: m.weight}, connectTimeoutMs: c.connectTimeout, ...deps})
  }
}
