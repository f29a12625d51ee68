import {HashRing, type HashRingOptions} from '../../../core/hash-ring.js'
import {getAll, getJoined} from '../../../util/raw-headers.js'
import {SmoothRoundRobin} from './round-robin.js'
import {type Balancer, candidates, type MemberState, type PickRequest} from './types.js'

/** Where the hash key comes from: the cache key (URL), a request header, or a cookie. */
export type HashKeySource = {from: 'key'} | {from: 'header'; name: string} | {from: 'cookie'; name: string}

/**
 * The value consistent hashing hashes for one request. A header or cookie the request lacks falls back to the cache
 * key, so such requests still stick per URL rather than all landing on the one member owning "".
 */
export function balanceKey(source: HashKeySource, req: {cacheKey: string; headers: readonly string[]}): string {
  if (source.from === 'header') return getJoined(req.headers, source.name) ?? req.cacheKey
  if (source.from === 'cookie') return cookieValue(req.headers, source.name) ?? req.cacheKey
  return req.cacheKey
}

/** First value of cookie `name` across all Cookie fields (RFC 6265 §5.4: `a=b; c=d`), undefined if absent. */
export function cookieValue(headers: readonly string[], name: string): string | undefined {
  for (const field of getAll(headers, 'cookie')) {
    for (const pair of field.split(';')) {
      const eq = pair.indexOf('=')
      if (eq === -1) continue
      if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim()
    }
  }
  return undefined
}

/**
 * Ketama over the group (see core/hash-ring.ts): a key keeps its member while that member is available; when it is
 * not (or was already tried), the next member in ring order takes it, so fallbacks are sticky too. The ring holds
 * every primary whatever its health, so a member coming back gets exactly its old keys back. Backups have their own
 * ring, used when no primary is available. A request without a hash key is balanced by round-robin.
 */
export class ConsistentHashBalancer implements Balancer {
  readonly algorithm = 'consistent-hash'
  private readonly primary: RingCache
  private readonly backup: RingCache
  private readonly rr = new SmoothRoundRobin()

  constructor(opts: HashRingOptions = {}) {
    this.primary = new RingCache(opts)
    this.backup = new RingCache(opts)
  }

  pick<M extends MemberState>(members: readonly M[], req: PickRequest = {}): M | undefined {
    const among = candidates(members, req.exclude)
    if (among.length === 0) return undefined
    if (req.hashKey === undefined) return this.rr.choose(among)
    const useBackups = among[0]!.backup
    const ring = (useBackups ? this.backup : this.primary).ring(members, useBackups)
    const allowed = new Map(among.map((m) => [m.name, m]))
    const owner = ring.lookup(req.hashKey, {skip: (id) => !allowed.has(id)})
    return owner === undefined ? undefined : allowed.get(owner)
  }
}

/** The ring for the current membership, rebuilt only when names or weights change. */
class RingCache {
  private signature = ''
  private current: HashRing

  constructor(private readonly opts: HashRingOptions) {
    this.current = new HashRing([], opts)
  }

  ring(members: readonly MemberState[], backups: boolean): HashRing {
    let sig = ''
    for (const m of members) if (m.backup === backups) sig += `${m.weight}:${m.name}\n`
    if (sig !== this.signature) {
      this.current = new HashRing(
        members.filter((m) => m.backup === backups).map((m) => [m.name, m.weight] as const),
        this.opts,
      )
      this.signature = sig
    }
    return this.current
  }
}
