interface Entry {
  key: string
  count: number
  /** Over-estimation bound: the minimum that was displaced when the key entered. */
  err: number
  /** A second, unranked weight carried along (bytes for the request sketch, requests for the byte sketch). */
  aux: number
  /** Position in the heap array. */
  at: number
}

/**
 * Weighted Space-Saving heavy-hitter sketch (Metwally et al.) with a fixed capacity.
 *
 * Entries sit in a binary min-heap by count. Each entry object is allocated once and reused when its
 * slot changes key, and the Map is only touched when a key enters or leaves (heap moves just update
 * `entry.at`), so a full sketch records without allocating. Any key whose true weight exceeds
 * total / capacity is guaranteed to be present; a count over-estimates by at most its `err`.
 */
export class SpaceSaving {
  readonly capacity: number
  private readonly heap: Entry[] = []
  private readonly index = new Map<string, Entry>()
  private total = 0

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`)
    this.capacity = capacity
  }

  get size(): number {
    return this.index.size
  }

  /** Sum of all weights offered since the last clear. */
  get totalWeight(): number {
    return this.total
  }

  /** Smallest tracked count: the most an absent key can have had (0 while not full). */
  get floor(): number {
    return this.index.size < this.capacity ? 0 : this.heap[0]!.count
  }

  offer(key: string, weight: number, auxWeight: number): void {
    this.total += weight
    const hit = this.index.get(key)
    if (hit !== undefined) {
      hit.count += weight
      hit.aux += auxWeight
      this.siftDown(hit.at)
      return
    }
    const n = this.index.size
    if (n < this.capacity) {
      // Entry objects survive clear() in `heap`, so refill reuses them too.
      let e = this.heap[n]
      if (e === undefined) {
        e = {key, count: weight, err: 0, aux: auxWeight, at: n}
        this.heap.push(e)
      } else {
        e.key = key
        e.count = weight
        e.err = 0
        e.aux = auxWeight
        e.at = n
      }
      this.index.set(key, e)
      this.siftUp(n)
      return
    }
    // Full: the new key takes over the minimum's slot and inherits its count as error bound.
    const root = this.heap[0]!
    this.index.delete(root.key)
    root.key = key
    root.err = root.count
    root.count += weight
    root.aux = auxWeight
    this.index.set(key, root)
    this.siftDown(0)
  }

  /** Calls fn for every tracked entry (heap order, not sorted). */
  forEach(fn: (key: string, count: number, err: number, aux: number) => void): void {
    const n = this.index.size
    for (let i = 0; i < n; i++) {
      const e = this.heap[i]!
      fn(e.key, e.count, e.err, e.aux)
    }
  }

  has(key: string): boolean {
    return this.index.has(key)
  }

  /** The weight the key certainly had (count minus its over-estimation bound); 0 when not tracked. */
  guaranteed(key: string): number {
    const e = this.index.get(key)
    return e === undefined ? 0 : e.count - e.err
  }

  clear(): void {
    const n = this.index.size
    // Drop key references so old URLs can be collected; the entry objects are kept for reuse.
    for (let i = 0; i < n; i++) this.heap[i]!.key = ''
    this.index.clear()
    this.total = 0
  }

  private siftUp(i: number): void {
    const h = this.heap
    const e = h[i]!
    while (i > 0) {
      const p = (i - 1) >> 1
      const pe = h[p]!
      if (pe.count <= e.count) break
      h[i] = pe
      pe.at = i
      i = p
    }
    h[i] = e
    e.at = i
  }

  private siftDown(i: number): void {
    const h = this.heap
    const n = this.index.size
    const e = h[i]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && h[r]!.count < h[l]!.count ? r : l
      const ce = h[c]!
      if (e.count <= ce.count) break
      h[i] = ce
      ce.at = i
      i = c
    }
    h[i] = e
    e.at = i
  }
}
