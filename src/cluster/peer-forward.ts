/**
 * The origin a request goes to when another peer owns its key: that peer, asked for the absolute-form target
 * (`GET https://host/path`, so it keys the request under the client's scheme whatever listener it came in on) with
 * the hop header, so it serves the request itself. A try that fails before the peer sent a response head (refused,
 * reset, no head in time) goes to the next live peer of the key, or — when that is this node, or the tries are used
 * up — to the route's own upstreams. Once a head arrived the answer is the peer's, errors in its body included
 * (relayed as an aborted response: nothing is stored on this node either way, the request bypasses its cache).
 */
import type {OriginRequest, OriginResponse, Origins, UpstreamHealth} from '../core/origin.js'
import {UpstreamError} from '../proxy/origin/upstream.js'
import {HOP_HEADER} from './config.js'

/** What the forwarder needs of the node: the ring order of a key's live peers, the peers' pools, the counters. */
export interface PeerRouter {
  readonly self: string
  /** The first live peer for `key` after the ones in `tried` (ring order); `self` when this node comes first. */
  nextLive(key: string, tried: ReadonlySet<string>): string | undefined
  /** Send one try to `peer` (its pool and timeouts); throws an UpstreamError. */
  send(peer: string, req: OriginRequest): Promise<OriginResponse>
  /** A forward could not reach `peer`: it is marked down until its probes pass again. */
  unreachable(peer: string, reason: string): void
  countOut(peer: string): void
  countFallback(): void
}

/** Peer tries per request before the origin is asked directly. */
const MAX_PEER_TRIES = 2

export class PeerOrigins implements Origins {
  constructor(
    private readonly router: PeerRouter,
    /** The owner the route stage chose. */
    private readonly owner: string,
    /** Ring key (the request's cache key). */
    private readonly key: string,
    /** `scheme://authority` of the request, prefixed to its origin-form path. */
    private readonly base: string,
    /** The route's upstream group: the fallback. */
    private readonly fallback: Origins,
  ) {}

  async request(req: OriginRequest): Promise<OriginResponse> {
    const tried = new Set<string>()
    let peer: string | undefined = this.owner
    for (let i = 0; i < MAX_PEER_TRIES && peer !== undefined && peer !== this.router.self; i++) {
      tried.add(peer)
      try {
        const res = await this.router.send(peer, {...req, path: this.base + req.path, headers: [...req.headers, HOP_HEADER, this.router.self]})
        this.router.countOut(peer)
        return res
      } catch (error) {
        const e = error as UpstreamError
        // The client went away, our own queue was full, or the request cannot be sent again: nothing to fall back on.
        if (!(e instanceof UpstreamError) || e.kind === 'aborted' || e.kind === 'busy' || e.kind === 'hook' || !req.replayable) throw error
        if (e.kind === 'connect' || (e.kind === 'timeout' && /connect/i.test(e.message))) this.router.unreachable(peer, e.message)
      }
      peer = this.router.nextLive(this.key, tried)
    }
    this.router.countFallback()
    return this.fallback.request(req)
  }

  health(): UpstreamHealth[] {
    return this.fallback.health()
  }

  /** Owned by the daemon (the route's group) and the node (the peers' pools). */
  async close(): Promise<void> {}
}
