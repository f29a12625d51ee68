/**
 * Weight-aware consistent hashing (ketama): each member owns `vnodes × weight` points on a 32-bit ring; a key belongs
 * to the first point at or after its own hash. Adding a member only takes keys from the others (every key that moves,
 * moves to the newcomer) and removing one only hands its keys out, which is what upstream stickiness and cluster peer
 * ownership both need. Members are plain string ids: this module knows nothing about upstreams or peers.
 *
 * Points are md5 digests as in libketama (one digest gives four 32-bit points), so a ring is the same on every node
 * and every run, whatever order members were added in. The number of points a member gets depends only on its own
 * weight (not on the total, unlike twemproxy's variant), so changing one member never moves keys between two others.
 */
import {hash} from 'node:crypto'

export interface HashRingOptions {
  /** Points per unit of weight (default 160, as ketama). More points: smoother shares, bigger ring. */
  vnodes?: number
}

export interface RingLookupOptions {
  /** Members to pass over (unavailable, already tried): the next distinct member in ring order is returned instead. */
  skip?: ReadonlySet<string> | ((id: string) => boolean)
}

/** First four bytes of md5(s) as a little-endian uint32 (libketama's key hash). */
export function ringHash(s: string): number {
  const d = hash('md5', s, 'buffer')
  return d.readUInt32LE(0)
}

const DEFAULT_VNODES = 160

export class HashRing {
  private readonly vnodes: number
  private readonly weights = new Map<string, number>()
  /** Sorted points and, index for index, the member each belongs to. Rebuilt on every change (changes are rare). */
  private points = new Uint32Array(0)
  private owners: string[] = []

  constructor(members: Iterable<readonly [id: string, weight: number]> = [], opts: HashRingOptions = {}) {
    const v = opts.vnodes ?? DEFAULT_VNODES
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`vnodes must be a positive integer, got ${v}`)
    this.vnodes = v
    for (const [id, w] of members) this.set(id, w)
    this.rebuild()
  }

  get size(): number {
    return this.weights.size
  }

  has(id: string): boolean {
    return this.weights.has(id)
  }

  /** Members and their weights, in insertion order. */
  members(): Array<[id: string, weight: number]> {
    return [...this.weights]
  }

  /** Add a member, or change its weight. */
  add(id: string, weight = 1): void {
    if (this.weights.get(id) === weight) return
    this.set(id, weight)
    this.rebuild()
  }

  remove(id: string): boolean {
    if (!this.weights.delete(id)) return false
    this.rebuild()
    return true
  }

  /** The member owning `key`, or (with `skip`) the first member after it in ring order that is not skipped. */
  lookup(key: string, opts: RingLookupOptions = {}): string | undefined {
    const n = this.points.length
    if (n === 0) return undefined
    const skip = toPredicate(opts.skip)
    let i = this.firstAtOrAfter(ringHash(key))
    if (!skip) return this.owners[i]
    const seen = new Set<string>()
    for (let step = 0; step < n && seen.size < this.weights.size; step++, i = i + 1 === n ? 0 : i + 1) {
      const id = this.owners[i]!
      if (seen.has(id)) continue
      if (!skip(id)) return id
      seen.add(id)
    }
    return undefined
  }

  /** Distinct members in ring order from `key`'s position: the owner first, then its fallbacks. */
  sequence(key: string, limit = this.weights.size): string[] {
    const out: string[] = []
    const n = this.points.length
    if (n === 0 || limit <= 0) return out
    const seen = new Set<string>()
    let i = this.firstAtOrAfter(ringHash(key))
    for (let step = 0; step < n && out.length < Math.min(limit, this.weights.size); step++, i = i + 1 === n ? 0 : i + 1) {
      const id = this.owners[i]!
      if (!seen.has(id)) {
        seen.add(id)
        out.push(id)
      }
    }
    return out
  }

  private set(id: string, weight: number): void {
    if (!(Number.isFinite(weight) && weight > 0)) throw new RangeError(`weight of ${JSON.stringify(id)} must be a positive number, got ${weight}`)
    this.weights.set(id, weight)
  }

  /** Index of the first point ≥ h, wrapping to 0 past the last one. */
  private firstAtOrAfter(h: number): number {
    const p = this.points
    let lo = 0
    let hi = p.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (p[mid]! < h) lo = mid + 1
      else hi = mid
    }
    return lo === p.length ? 0 : lo
  }

  private rebuild(): void {
    const entries: Array<{point: number; id: string}> = []
    for (const [id, weight] of this.weights) {
      const count = Math.max(1, Math.round(this.vnodes * weight))
      // libketama: md5("<id>-<i>") yields four points per digest.
      for (let i = 0, made = 0; made < count; i++) {
        const d = hash('md5', `${id}-${i}`, 'buffer')
        for (let k = 0; k < 4 && made < count; k++, made++) entries.push({point: d.readUInt32LE(k * 4), id})
      }
    }
    // Ties (two members on one point) go to the smaller id, so the ring does not depend on insertion order.
    entries.sort((a, b) => a.point - b.point || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    this.points = Uint32Array.from(entries, (e) => e.point)
    this.owners = entries.map((e) => e.id)
  }
}

function toPredicate(skip: RingLookupOptions['skip']): ((id: string) => boolean) | undefined {
  if (skip === undefined) return undefined
  if (typeof skip === 'function') return skip
  if (skip.size === 0) return undefined
  return (id) => skip.has(id)
}
