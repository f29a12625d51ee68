/**
 * Which Tavern node owns a URL: the ring every node of a cluster (and the `tavern/client` dispatcher) computes the
 * same way. Members are peers named by their base URL as the others reach them (`http://10.0.0.2:8080`), normalised
 * so that two spellings of one address are one member; weights scale a peer's share. Keys are the URL's cache key
 * under the default key rules (see ringKeyOfUrl): a node uses the request's own cache key, which equals it unless a
 * site's key rules (query sorting, ignored parameters) rewrite it — then a client may pick a non-owner, which costs
 * one forwarding hop, never a wrong answer.
 *
 * Ketama (core/hash-ring.ts) rather than rendezvous hashing: the same code already balances upstreams with
 * stickiness, lookups are O(log n) instead of O(peers), and adding or removing a peer only moves that peer's keys.
 */
import {keyOf, normalizeAuthority, normalizeTarget, parseAbsoluteUri} from '../cache/cache-key.js'
import {HashRing} from '../core/hash-ring.js'

export interface PeerSpec {
  /** Base URL the other nodes reach this peer at: `http(s)://host:port`, no path. */
  url: string
  /** Share of keys relative to the others (default 1). */
  weight?: number
}

/**
 * A peer's id: its base URL normalised (scheme and host lower case, default port dropped, no trailing slash).
 * Throws a RangeError naming the problem for anything that is not a bare http(s) origin.
 */
export function peerId(url: string): string {
  const u = parseAbsoluteUri(url.trim())
  if (!u) throw new RangeError(`peer URL must be http://host:port or https://host:port, got ${JSON.stringify(url)}`)
  if (u.userinfo) throw new RangeError(`peer URL must not carry user info: ${JSON.stringify(url)}`)
  if (u.authority === '') throw new RangeError(`peer URL has no host: ${JSON.stringify(url)}`)
  if (u.rest !== '/') throw new RangeError(`peer URL must have no path, query or fragment: ${JSON.stringify(url)}`)
  return `${u.scheme}://${normalizeAuthority(u.scheme, u.authority)}`
}

/**
 * The ring key of an absolute http(s) URL: its cache key under the default key rules (URI equivalences of RFC 3986
 * §6.2.2 only, query kept). Undefined for anything that is not an absolute http(s) URL.
 */
export function ringKeyOfUrl(url: string): string | undefined {
  const u = parseAbsoluteUri(url)
  if (!u || u.authority === '') return undefined
  return keyOf(u.scheme, u.authority, normalizeTarget(u.rest), {query: 'keep'})
}

/**
 * Ring points per unit of weight for peers. Higher than ketama's 160 (what upstream balancing keeps): with 3 peers,
 * 160 points left some rings more than 15 % away from an even share (8 of 100 random 3-port rings, 20,000 keys),
 * 1024 none; a ring of a few thousand points costs nothing to build or search.
 */
export const DEFAULT_PEER_VNODES = 1024

export interface PeerRingOptions {
  /** Ring points per unit of weight (default DEFAULT_PEER_VNODES). Every node and client of a cluster must use the same value. */
  vnodes?: number
}

/** The peers of a cluster on a consistent-hash ring. Immutable: membership changes build a new ring. */
export class PeerRing {
  private readonly ring: HashRing
  /** Peer ids in the order given. */
  readonly peers: readonly string[]

  constructor(peers: readonly PeerSpec[], opts: PeerRingOptions = {}) {
    const members = new Map<string, number>()
    for (const p of peers) {
      const id = peerId(p.url)
      if (members.has(id)) throw new RangeError(`peer ${id} is listed twice`)
      members.set(id, p.weight ?? 1)
    }
    this.ring = new HashRing(members, {vnodes: opts.vnodes ?? DEFAULT_PEER_VNODES})
    this.peers = [...members.keys()]
  }

  get size(): number {
    return this.ring.size
  }

  has(id: string): boolean {
    return this.ring.has(id)
  }

  /** The owner of `key`, or with `skip` the first peer after it in ring order that is not skipped (e.g. down). */
  owner(key: string, skip?: (id: string) => boolean): string | undefined {
    return this.ring.lookup(key, {skip})
  }

  /** The owner first, then the peers that take over its keys in turn. */
  sequence(key: string, limit?: number): string[] {
    return this.ring.sequence(key, limit)
  }
}
