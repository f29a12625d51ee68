/** One body in the memory tier: a node of the intrusive recency list (most recent at the head). */
interface Entry {
  readonly file: string
  readonly buf: Buffer
  prev: Entry | undefined
  next: Entry | undefined
}

/**
 * Byte-bounded LRU of small bodies, keyed by body file name. O(1) per operation whatever the number of entries: a
 * hit only relinks its node to the head of a doubly linked list (no Map mutation: deleting and re-inserting in a
 * Map to keep recency cost up to ~35 µs per hit with 10,000 entries, see issue 16), eviction takes from the tail.
 */
export class MemoryTier {
  private readonly map = new Map<string, Entry>()
  private head: Entry | undefined
  private tail: Entry | undefined
  private used = 0

  constructor(
    private readonly maxBytes: number,
    readonly maxObjectBytes: number,
  ) {}

  get enabled(): boolean {
    return this.maxBytes > 0 && this.maxObjectBytes > 0
  }

  accepts(size: number): boolean {
    return this.enabled && size <= this.maxObjectBytes && size <= this.maxBytes
  }

  get(file: string): Buffer | undefined {
    const e = this.map.get(file)
    if (e === undefined) return undefined
    if (e !== this.head) {
      this.unlink(e)
      this.pushHead(e)
    }
    return e.buf
  }

  has(file: string): boolean {
    return this.map.has(file)
  }

  set(file: string, buf: Buffer): void {
    if (!this.accepts(buf.length)) return
    this.delete(file)
    const e: Entry = {file, buf, prev: undefined, next: undefined}
    this.map.set(file, e)
    this.pushHead(e)
    this.used += buf.length
    while (this.used > this.maxBytes && this.tail !== undefined) this.remove(this.tail)
  }

  delete(file: string): void {
    const e = this.map.get(file)
    if (e !== undefined) this.remove(e)
  }

  get bytes(): number {
    return this.used
  }

  get count(): number {
    return this.map.size
  }

  /** File names from the most to the least recently used (tests, inspection). */
  *recency(): IterableIterator<string> {
    for (let e = this.head; e !== undefined; e = e.next) yield e.file
  }

  private remove(e: Entry): void {
    this.map.delete(e.file)
    this.unlink(e)
    this.used -= e.buf.length
  }

  private unlink(e: Entry): void {
    if (e.prev === undefined) this.head = e.next
    else e.prev.next = e.next
    if (e.next === undefined) this.tail = e.prev
    else e.next.prev = e.prev
    e.prev = undefined
    e.next = undefined
  }

  private pushHead(e: Entry): void {
    e.next = this.head
    if (this.head !== undefined) this.head.prev = e
    this.head = e
    if (this.tail === undefined) this.tail = e
  }
}
