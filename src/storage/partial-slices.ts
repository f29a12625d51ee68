/**
 * Slice arithmetic and the present-slice bitmap of partial objects (pure, no I/O).
 * Slice `k` of an object of `size` bytes cut in `sliceSize` pieces covers bytes [k*sliceSize, min((k+1)*sliceSize, size) - 1].
 */

/** Number of slices of an object (0 for an empty object). */
export function sliceCount(size: number, sliceSize: number): number {
  return Math.ceil(size / sliceSize)
}

/** First byte of slice `k`. */
export function sliceStart(k: number, sliceSize: number): number {
  return k * sliceSize
}

/** Last byte (inclusive) of slice `k`. */
export function sliceEnd(k: number, sliceSize: number, size: number): number {
  return Math.min((k + 1) * sliceSize, size) - 1
}

/** Bytes in slice `k`. */
export function sliceLength(k: number, sliceSize: number, size: number): number {
  return Math.max(0, sliceEnd(k, sliceSize, size) - sliceStart(k, sliceSize) + 1)
}

/** Slice holding byte `pos`. */
export function sliceOf(pos: number, sliceSize: number): number {
  return Math.floor(pos / sliceSize)
}

/** An empty bitmap for `slices` slices. */
export function newBitmap(slices: number): Buffer {
  return Buffer.alloc(Math.ceil(slices / 8))
}

export function hasSlice(bits: Uint8Array, k: number): boolean {
  const byte = k >> 3
  return byte < bits.length && (bits[byte]! & (1 << (k & 7))) !== 0
}

export function setSlice(bits: Uint8Array, k: number): void {
  bits[k >> 3]! |= 1 << (k & 7)
}

/** How many of the first `slices` slices are present. */
export function countSlices(bits: Uint8Array, slices: number): number {
  let n = 0
  for (let k = 0; k < slices; k++) if (hasSlice(bits, k)) n++
  return n
}

/** Whether every one of `slices` slices is present. */
export function allSlices(bits: Uint8Array, slices: number): boolean {
  for (let k = 0; k < slices; k++) if (!hasSlice(bits, k)) return false
  return true
}

/** Bytes held by the present slices. */
export function presentBytes(bits: Uint8Array, sliceSize: number, size: number): number {
  let n = 0
  const slices = sliceCount(size, sliceSize)
  for (let k = 0; k < slices; k++) if (hasSlice(bits, k)) n += sliceLength(k, sliceSize, size)
  return n
}

/** A bitmap as a Buffer (LMDB's msgpack may hand back a plain Uint8Array or, from old records, a number array). */
export function toBitmap(v: Uint8Array | number[] | undefined, slices: number): Buffer {
  const out = newBitmap(slices)
  if (v) for (let i = 0; i < out.length && i < v.length; i++) out[i] = v[i]! & 0xff
  return out
}

/** An inclusive run of slice indexes. */
export interface SliceRun {
  first: number
  last: number
}

/**
 * The contiguous runs of slices in [first, last] that are neither present nor `skip`ped (e.g. already being fetched),
 * in ascending order.
 */
export function missingRuns(bits: Uint8Array, first: number, last: number, skip: (k: number) => boolean = () => false): SliceRun[] {
  const runs: SliceRun[] = []
  let cur: SliceRun | undefined
  for (let k = first; k <= last; k++) {
    if (hasSlice(bits, k) || skip(k)) {
      cur = undefined
      continue
    }
    if (cur) cur.last = k
    else runs.push((cur = {first: k, last: k}))
  }
  return runs
}

/** Slices covering the inclusive byte ranges (ascending, each once). */
export function slicesFor(ranges: ReadonlyArray<{start: number; end: number}>, sliceSize: number): number[] {
  const set = new Set<number>()
  for (const r of ranges) for (let k = sliceOf(r.start, sliceSize); k <= sliceOf(r.end, sliceSize); k++) set.add(k)
  return [...set].sort((a, b) => a - b)
}

/** Group sorted slice indexes into contiguous runs. */
export function toRuns(slices: readonly number[]): SliceRun[] {
  const runs: SliceRun[] = []
  for (const k of slices) {
    const last = runs[runs.length - 1]
    if (last && last.last + 1 === k) last.last = k
    else runs.push({first: k, last: k})
  }
  return runs
}
