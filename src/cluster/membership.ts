/**
 * Where a node learns the peer list from. The node (src/cluster/node.ts) starts one Membership and rebuilds its
 * PeerRing (and peer health checks) each time onChange reports a list; `static` reports the config's `peers` once.
 * A dynamic implementation (Redis heartbeats) plugs in here: it calls onChange whenever the live set changes.
 */
import {type ClusterConfig, peerSpecs} from './config.js'
import type {PeerSpec} from './peer-ring.js'

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

/** The membership a config asks for. */
export function createMembership(c: ClusterConfig): Membership {
  switch (c.membership.type) {
    case 'static':
      return new StaticMembership(peerSpecs(c))
  }
}
