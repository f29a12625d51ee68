/** Byte-bounded LRU of small bodies, keyed by body file name (Map insertion order = recency). */
export class MemoryTier {
  private map = new Map<string, Buffer>()
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
    const b = this.map.get(file)
    if (b !== undefined) {
      this.map.delete(file)
      this.map.set(file, b)
    }
    return b
  }

  has(file: string): boolean {
    return this.map.has(file)
  }

  set(file: string, buf: Buffer): void {
    if (!this.accepts(buf.length)) return
    this.delete(file)
    this.map.set(file, buf)
    this.used += buf.length
    if (this.used > this.maxBytes) {
      for (const [k, v] of this.map) {
        if (this.used <= this.maxBytes) break
        this.map.delete(k)
        this.used -= v.length
      }
    }
  }

  delete(file: string): void {
    const b = this.map.get(file)
    if (b === undefined) return
    this.map.delete(file)
    this.used -= b.length
  }

  get bytes(): number {
    return this.used
  }

  get count(): number {
    return this.map.size
  }
}
