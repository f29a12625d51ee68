/**
 * This node's part in a cluster: the membership it listens to, the ring built from the current peer list, the
 * health of the other peers, their connection pools, and the routing plugin (routing.ts) that sends GET/HEAD
 * requests for keys another live peer owns to that peer. A membership change builds a new ring, health checks and
 * pools; requests already forwarded finish on the old pools, which close afterwards.
 */
import type {ClusterStatus, PeerStatus} from '../admin/protocol.js'
import type {BackgroundRunner} from '../core/background.js'
import type {OriginRequest, OriginResponse} from '../core/origin.js'
import type {TavernConfig} from '../config/schema.js'
import type {HookRegistration} from '../proxy/hooks.js'
import {UpstreamResilienceConfig} from '../proxy/origin/config.js'
import {UpstreamError, UpstreamGroup} from '../proxy/origin/upstream.js'
import {type ClusterConfig, HOP_HEADER} from './config.js'
import {createMembership, type Membership} from './membership.js'
import type {PeerRouter} from './peer-forward.js'
import {PeerHealth, type PeerHealthEvent} from './peer-health.js'
import {peerId, PeerRing, type PeerSpec} from './peer-ring.js'
import {clusterRouting} from './routing.js'
import {peerTrust} from './trust.js'

export interface ClusterLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  debug(obj: object, msg: string): void
}

export interface ClusterDeps {
  background: BackgroundRunner
  log: ClusterLog
}

/** Requests this node exchanged with one peer. */
export interface PeerCounters {
  /** Forwarded to the peer (it owns the key). */
  out: number
  /** Served for the peer (it forwarded them here). */
  in: number
}

/** Connections per peer pool (forwarded requests are short; the owner's own upstream pool is the real limit). */
const PEER_CONNECTIONS = 256
/** Sample keys for the shares `status --cluster` shows: enough for ±1 % on a share of 1/3. */
const SHARE_SAMPLES = 20_000

/** One membership generation: the ring and what talks to the peers. */
class Generation {
  readonly ring: PeerRing
  readonly weights: Map<string, number>
  readonly pools: UpstreamGroup
  readonly health: PeerHealth
  private readonly members = new Map<string, UpstreamGroup['members'][number]>()

  constructor(peers: readonly PeerSpec[], self: string, c: TavernConfig, cc: ClusterConfig, deps: ClusterDeps) {
    this.ring = new PeerRing(peers, {vnodes: cc.vnodes})
    this.weights = new Map(peers.map((p) => [peerId(p.url), p.weight ?? 1]))
    const others = this.ring.peers.filter((p) => p !== self)
    this.pools = new UpstreamGroup(
      others.map((id) => ({url: id, name: id, weight: this.weights.get(id) ?? 1})),
      {
        connections: PEER_CONNECTIONS,
        connectTimeoutMs: cc.connectTimeout,
        headersTimeoutMs: cc.headersTimeout,
        bodyTimeoutMs: cc.bodyTimeout,
        keepAliveTimeoutMs: 4000,
        failureCooldownMs: 0,
        queueTimeoutMs: cc.headersTimeout,
        keyShare: 1,
        keyQueue: 1_000_000,
        maxDecodedBytes: c.storage.maxDiskBytes,
        resilience: UpstreamResilienceConfig.parse({outlier: {enabled: false}, breaker: {enabled: false}}),
      },
      {name: 'cluster', background: deps.background, log: deps.log},
    )
    for (const m of this.pools.members) this.members.set(m.name, m)
    this.health = new PeerHealth(others, self, {intervalMs: cc.health.interval, timeoutMs: cc.health.timeout, fall: cc.health.fall, rise: cc.health.rise, path: cc.health.path}, {
      background: deps.background,
      onChange: (e: PeerHealthEvent) => {
        if (e.up) deps.log.info({peer: e.peer, reason: e.reason}, 'cluster peer up: its keys move back to it')
        else deps.log.warn({peer: e.peer, reason: e.reason}, 'cluster peer down: its keys go to the next peer on the ring')
      },
    })
  }

  member(peer: string): UpstreamGroup['members'][number] | undefined {
    return this.members.get(peer)
  }

  async close(lingerMs: number): Promise<void> {
    await this.health.stop()
    if (lingerMs > 0) await new Promise((r) => setTimeout(r, lingerMs).unref())
    await this.pools.close()
  }
}

export class ClusterNode implements PeerRouter {
  readonly self: string
  private gen: Generation | undefined
  private readonly counters = new Map<string, PeerCounters>()
  private fallbacks = 0
  private readonly membership: Membership
  private readonly registration: HookRegistration
  private closed = false

  private constructor(
    private readonly tavern: TavernConfig,
    readonly config: ClusterConfig,
    private readonly deps: ClusterDeps,
  ) {
    this.self = peerId(config.self)
    this.membership = createMembership(config, deps)
    this.registration = clusterRouting(this)
  }

  /** Start listening to the membership; resolves once the first peer list is in (the static one at once). */
  static async start(tavern: TavernConfig, deps: ClusterDeps): Promise<ClusterNode> {
    const c = tavern.cluster
    if (!c) throw new Error('ClusterNode.start: no cluster section')
    const node = new ClusterNode(tavern, c, deps)
    await node.membership.start((peers) => node.apply(peers))
    return node
  }

  /** Whether a config's cluster section differs from the one this node runs with (then a reload builds a new node). */
  changed(next: TavernConfig): boolean {
    return JSON.stringify(next.cluster) !== JSON.stringify(this.config) || next.storage.maxDiskBytes !== this.tavern.storage.maxDiskBytes
  }

  /** A new peer list: a new ring, health checks and pools; the old ones serve what they started, then close. */
  private apply(peers: PeerSpec[]): void {
    if (this.closed) return
    let next: Generation
    try {
      if (!peers.some((p) => peerId(p.url) === this.self)) peers = [...peers, {url: this.self}]
      next = new Generation(peers, this.self, this.tavern, this.config, this.deps)
    } catch (error) {
      this.deps.log.warn({err: error}, 'cluster: membership reported a peer list that cannot be used; keeping the current ring')
      return
    }
    const old = this.gen
    this.gen = next
    next.health.start()
    this.deps.log.info({self: this.self, peers: next.ring.peers}, 'cluster ring built')
    if (old) void this.deps.background.run('close replaced cluster peers', () => old.close(this.config.bodyTimeout))
  }

  /** Whether peer routing applies at all (a cluster of one routes nothing). */
  get active(): boolean {
    return (this.gen?.ring.size ?? 0) > 1
  }

  /** The live peer that should serve `key`: `self`, or another peer that is up. */
  ownerOf(key: string): string {
    const g = this.gen
    if (!g) return this.self
    return g.ring.owner(key, (id) => id !== this.self && !g.health.isUp(id)) ?? this.self
  }

  nextLive(key: string, tried: ReadonlySet<string>): string | undefined {
    const g = this.gen
    if (!g) return this.self
    return g.ring.owner(key, (id) => tried.has(id) || (id !== this.self && !g.health.isUp(id)))
  }

  async send(peer: string, req: OriginRequest): Promise<OriginResponse> {
    const g = this.gen
    const m = g?.member(peer)
    // A peer that left the ring while the request waited: as unreachable as one that refuses.
    if (!g || !m) throw new UpstreamError('connect', `peer ${peer} is no longer a member`, peer)
    return g.pools.send(req, m)
  }

  unreachable(peer: string, reason: string): void {
    this.gen?.health.markDown(peer, reason)
  }

  private counter(peer: string): PeerCounters {
    let c = this.counters.get(peer)
    if (!c) {
      c = {out: 0, in: 0}
      this.counters.set(peer, c)
    }
    return c
  }

  countOut(peer: string): void {
    this.counter(peer).out++
  }

  /** A request a peer forwarded here; `from` is the sender's id as it put it in the hop header. */
  countIn(from: string): void {
    // Only ring members get a label of their own: the header value must not grow the metric's label set.
    this.counter(this.gen?.ring.has(from) ? from : 'other').in++
  }

  countFallback(): void {
    this.fallbacks++
  }

  get fallbackTotal(): number {
    return this.fallbacks
  }

  /** Every peer's counters (peers that left the ring keep theirs: Prometheus counters never go down). */
  peerCounters(): ReadonlyMap<string, Readonly<PeerCounters>> {
    return this.counters
  }

  /** Health per peer id: 1 up, 0 down (this node: 1). */
  peerUp(): Array<{peer: string; up: boolean}> {
    const g = this.gen
    if (!g) return []
    return g.ring.peers.map((p) => ({peer: p, up: p === this.self || g.health.isUp(p)}))
  }

  /** The built-in plugin that routes requests (hop header, health path, owner lookup). */
  registrations(): HookRegistration[] {
    return [this.registration]
  }

  get healthPath(): string {
    return this.config.health.path
  }

  status(): ClusterStatus {
    const g = this.gen
    const peers: PeerStatus[] = []
    if (g) {
      const health = g.health.snapshot()
      const share = new Map<string, number>()
      const live = new Map<string, number>()
      // Shares are measured on the ring with sample keys (what the ring does, whatever the weights and vnodes).
      for (let i = 0; i < SHARE_SAMPLES; i++) {
        const k = `share-sample-${i}`
        const o = g.ring.owner(k)!
        share.set(o, (share.get(o) ?? 0) + 1)
        const l = this.ownerOf(k)
        live.set(l, (live.get(l) ?? 0) + 1)
      }
      for (const id of g.ring.peers) {
        const h = health.get(id)
        const c = this.counters.get(id)
        peers.push({
          id,
          self: id === this.self,
          weight: g.weights.get(id) ?? 1,
          up: id === this.self || (h?.up ?? false),
          passiveDown: h?.passiveDown ?? false,
          share: (share.get(id) ?? 0) / SHARE_SAMPLES,
          liveShare: (live.get(id) ?? 0) / SHARE_SAMPLES,
          requestsOut: c?.out ?? 0,
          requestsIn: c?.in ?? 0,
          ...(h ? {checks: h.checks, lastError: h.lastError, lastLatencyMs: h.lastLatencyMs} : {}),
        })
      }
    }
    return {self: this.self, vnodes: this.config.vnodes, membership: this.config.membership.type, hopHeader: HOP_HEADER, trust: peerTrust(this.config).entries, fallbacks: this.fallbacks, peers}
  }

  /** Stop; with `lingerMs`, forwards already started get that long to finish before the pools close (a reload). */
  async close(lingerMs = 0): Promise<void> {
    this.closed = true
    await this.membership.close()
    await this.gen?.close(lingerMs)
  }
}
