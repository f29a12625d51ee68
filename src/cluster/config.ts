/**
 * The `cluster` config section (absent: this node is not part of a cluster). Every node of a cluster lists the same
 * peers (itself included) and the same `vnodes`, so that all of them compute the same ring; `self` names which of the
 * peers this node is. docs/cluster.md describes a static cluster, the hop header, trust and failover.
 */
import {z} from 'zod'

import {duration} from '../config/zod-units.js'
import {isCidr} from '../util/cidr.js'
import {peerHostIp} from './peer-address.js'
import {DEFAULT_PEER_VNODES, peerId, type PeerSpec} from './peer-ring.js'

/**
 * The request field that marks a request one node forwarded to another (the owner of its key). A request carrying it
 * from a trusted peer address is served where it arrives, whatever the ring says: one hop at most, loops impossible.
 * From anyone else it is removed and the request treated as any client's.
 */
export const HOP_HEADER = 'Tavern-Peer'
export const HOP_HEADER_LOWER = 'tavern-peer'

/** A peer base URL; checked with peerId (http(s)://host:port, nothing else). */
const peerUrl = z.string().superRefine((v, ctx) => {
  try {
    peerId(v)
  } catch (error) {
    ctx.addIssue({code: 'custom', message: (error as Error).message})
  }
})

// A plain string, or {url, weight}; the URL is checked after the union so its problem is named (a union says only
// "Invalid input").
const PeerEntry = z.union([z.string().transform((url) => ({url, weight: 1})), z.strictObject({url: z.string(), weight: z.number().int().min(1).max(1000).default(1)})])

const HealthConfig = z
  .strictObject({
    /** Time between two probes of a peer. */
    interval: duration('2s').refine((ms) => ms > 0, {message: 'interval must be > 0'}),
    /** A probe not answered within this fails. */
    timeout: duration('1s').refine((ms) => ms > 0, {message: 'timeout must be > 0'}),
    /** Failed probes in a row that take a peer down. */
    fall: z.number().int().min(1).max(100).default(2),
    /** Passing probes in a row that bring a peer back (also after a failed forward marked it down). */
    rise: z.number().int().min(1).max(100).default(2),
    /** Path the probes ask for; a node answers it itself (never from the origin) when the probe comes from a peer. */
    path: z
      .string()
      .regex(/^\/[!$&'()*+,;=:@\w.~/-]*$/, 'must be an absolute path without query, e.g. /.well-known/tavern-peer')
      .default('/.well-known/tavern-peer'),
  })
  .prefault({})

/** `static`: the `peers` of the config (a reload applies a changed list). */
const StaticMembershipConfig = z.strictObject({type: z.literal('static').default('static')})

/** `redis`: each node registers itself in Redis with heartbeats; the peers are the live registrations (redis-membership.ts). */
const RedisMembershipConfig = z
  .strictObject({
    type: z.literal('redis'),
    url: z.string().refine((v) => /^rediss?:\/\/[^/]+/.test(v), {message: 'expected redis://host:port[/db] or rediss://…'}),
    /** Prefix of the keys and the channel; nodes with the same Redis and prefix form one cluster. */
    prefix: z.string().min(1).default('tavern:cluster:'),
    /** How often a node refreshes its registration and re-reads the list. */
    heartbeat: duration('1s').refine((ms) => ms >= 10, {message: 'heartbeat must be at least 10ms'}),
    /** A node that has not refreshed its registration for this long has left. */
    ttl: duration('5s'),
    /** This node's share of the keys relative to the others (the static list gives it per peer). */
    weight: z.number().int().min(1).max(1000).default(1),
  })
  .superRefine((m, ctx) => {
    if (!(m.ttl > m.heartbeat)) ctx.addIssue({code: 'custom', path: ['ttl'], message: `ttl (${m.ttl}ms) must be longer than heartbeat (${m.heartbeat}ms): a node would expire between two of its refreshes`})
  })

/** How the node learns the peer list. */
const MembershipConfig = z.discriminatedUnion('type', [StaticMembershipConfig, RedisMembershipConfig]).prefault({})

export const ClusterSchema = z
  .strictObject({
    /** This node's base URL as the other peers reach it (`http://10.0.0.2:8080`); it must be one of `peers` (static membership). */
    self: peerUrl,
    /** Every node of the cluster, this one included: base URLs, or {url, weight}. The same list on every node. Not with membership redis. */
    peers: z.array(PeerEntry).default([]),
    /** Ring points per unit of weight; the same on every node (and in tavern/client). */
    vnodes: z.number().int().min(1).max(10_000).default(DEFAULT_PEER_VNODES),
    /** Addresses (IP or CIDR) whose hop header and absolute-form scheme are believed; default: the peers' IPs. */
    trust: z.array(z.string().refine(isCidr, {message: 'expected an IP address or CIDR, e.g. 10.0.0.0/24'})).optional(),
    /** Connecting to a peer; a peer that does not accept within it is marked down and the next one (or the origin) is used. */
    connectTimeout: duration('1s'),
    /** A peer's response head; longer than the owner's own upstream.headersTimeout, so its 504 is relayed, not ours. */
    headersTimeout: duration('35s'),
    /** Longest pause within a peer's response body. */
    bodyTimeout: duration('60s'),
    health: HealthConfig,
    membership: MembershipConfig,
  })
  .superRefine((c, ctx) => {
    if (c.health.timeout > c.health.interval) ctx.addIssue({code: 'custom', path: ['health', 'timeout'], message: 'timeout must not be longer than interval'})
    if (c.membership.type === 'redis') {
      // The peers come from Redis; trust cannot default to the peers' IPs, and membership is no proof of address.
      if (c.peers.length > 0) ctx.addIssue({code: 'custom', path: ['peers'], message: 'not with membership.type redis: the peers are the nodes registered in Redis'})
      if (c.trust === undefined) ctx.addIssue({code: 'custom', path: ['trust'], message: "membership.type redis needs cluster.trust: the cluster's addresses (IP or CIDR) whose hop header is believed"})
      return
    }
    if (c.peers.length === 0) ctx.addIssue({code: 'custom', path: ['peers'], message: 'list every node of the cluster, this one included (or use membership.type redis)'})
    const seen = new Map<string, number>()
    c.peers.forEach((p, i) => {
      let id: string
      try {
        id = peerId(p.url)
      } catch (error) {
        ctx.addIssue({code: 'custom', path: ['peers', i], message: (error as Error).message})
        return
      }
      const before = seen.get(id)
      if (before !== undefined) ctx.addIssue({code: 'custom', path: ['peers', i], message: `${id} is listed twice (also peers[${before}])`})
      else seen.set(id, i)
    })
    let self: string | undefined
    try {
      self = peerId(c.self)
    } catch {
      return // reported by the self key's own check
    }
    if (!seen.has(self)) ctx.addIssue({code: 'custom', path: ['self'], message: `${self} is not one of cluster.peers (list every node, this one included, on every node)`})
    if (c.trust === undefined) {
      const named = c.peers.find((p) => peerHostIp(p.url) === undefined)
      if (named) ctx.addIssue({code: 'custom', path: ['trust'], message: `${named.url} names a host, not an IP: list the peers' addresses in cluster.trust (whose hop header is believed)`})
    }
  })
  .optional()

export type ClusterConfig = NonNullable<z.output<typeof ClusterSchema>>

/** The peers of a config as the ring takes them. */
export function peerSpecs(c: ClusterConfig): PeerSpec[] {
  return c.peers.map((p) => ({url: p.url, weight: p.weight}))
}
