/**
 * Latency histograms with fixed buckets, so recording is O(1) and never allocates.
 *
 * - `WindowedLogHistogram`: log-spaced buckets (8 per doubling, ≈ ±4.5 % around the reported value)
 *   kept per second in a ring of `windowSec` slots; percentiles cover the sliding window.
 * - `CumulativeHistogram`: a handful of Prometheus-style bounds, counted since start (for /metrics).
 */

/** Lower edge of bucket 1, in ms: everything at or below lands in bucket 0. */
const MIN_MS = 0.01
const PER_DOUBLING = 8
/** 25 doublings above 10 µs ≈ 335 s; slower samples share the last bucket (their max is still tracked). */
const BUCKETS = PER_DOUBLING * 25 + 1
const GROWTH = 2 ** (1 / PER_DOUBLING)

/** Bucket i holds samples in (MIN_MS·G^(i-1), MIN_MS·G^i]. */
export function logBucketIndex(ms: number): number {
  if (!(ms > MIN_MS)) return 0 // also catches NaN and negatives
  const i = Math.ceil(Math.log2(ms / MIN_MS) * PER_DOUBLING)
  return i < BUCKETS ? i : BUCKETS - 1
}

/** Value reported for a bucket: its geometric middle. */
function bucketValue(i: number): number {
  return i === 0 ? MIN_MS : MIN_MS * GROWTH ** (i - 0.5)
}

export interface LatencySummary {
  /** Samples in the window. */
  count: number
  /** Percentiles in ms (bucket precision); null when the window is empty. */
  p50Ms: number | null
  p95Ms: number | null
  p99Ms: number | null
  maxMs: number | null
}

export class WindowedLogHistogram {
  private readonly counts: Uint32Array
  private readonly stamps: Float64Array
  private readonly max: Float64Array
  private readonly sum: Uint32Array

  constructor(private readonly windowSec = 60) {
    this.counts = new Uint32Array(windowSec * BUCKETS)
    this.stamps = new Float64Array(windowSec).fill(Number.NaN)
    this.max = new Float64Array(windowSec)
    this.sum = new Uint32Array(BUCKETS) // scratch for summary(), reused
  }

  record(sec: number, ms: number): void {
    const slot = sec % this.windowSec
    if (this.stamps[slot] !== sec) {
      this.counts.fill(0, slot * BUCKETS, (slot + 1) * BUCKETS)
      this.max[slot] = 0
      this.stamps[slot] = sec
    }
    this.counts[slot * BUCKETS + logBucketIndex(ms)]++
    if (ms > this.max[slot]) this.max[slot] = ms // false for NaN
  }

  /** Summary over the seconds (nowSec - windowSec, nowSec]. */
  summary(nowSec: number): LatencySummary {
    const agg = this.sum
    agg.fill(0)
    let count = 0
    let max = 0
    for (let slot = 0; slot < this.windowSec; slot++) {
      const stamp = this.stamps[slot]
      if (!(stamp <= nowSec && stamp > nowSec - this.windowSec)) continue // NaN = never used
      const base = slot * BUCKETS
      for (let b = 0; b < BUCKETS; b++) {
        const c = this.counts[base + b]
        if (c !== 0) {
          agg[b] += c
          count += c
        }
      }
      if (this.max[slot] > max) max = this.max[slot]
    }
    if (count === 0) return {count: 0, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null}
    const pick = (q: number): number => {
      const rank = Math.max(1, Math.ceil(q * count))
      let seen = 0
      for (let b = 0; b < BUCKETS; b++) {
        seen += agg[b]
        if (seen >= rank) return Math.min(bucketValue(b), max)
      }
      return max
    }
    return {count, p50Ms: round3(pick(0.5)), p95Ms: round3(pick(0.95)), p99Ms: round3(pick(0.99)), maxMs: round3(max)}
  }
}

/** Prometheus-style bucket bounds in seconds. */
export const PROM_BOUNDS_SEC: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
])

export interface CumulativeHistogramView {
  /** Upper bounds in seconds; the implicit +Inf bucket is last in `counts`. */
  boundsSec: readonly number[]
  /** Non-cumulative count per bucket, length boundsSec.length + 1. */
  counts: number[]
  sumSec: number
  count: number
}

export class CumulativeHistogram {
  private readonly counts: Float64Array
  private sumSec = 0
  private n = 0

  constructor(private readonly boundsSec: readonly number[] = PROM_BOUNDS_SEC) {
    this.counts = new Float64Array(boundsSec.length + 1)
  }

  record(ms: number): void {
    // A NaN would poison the sum forever; negative clock skew counts as 0.
    const s = ms > 0 ? ms / 1000 : 0
    // Binary search for the first bound >= s (Prometheus buckets are `le`).
    let lo = 0
    let hi = this.boundsSec.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.boundsSec[mid]! >= s) hi = mid
      else lo = mid + 1
    }
    this.counts[lo]++
    this.sumSec += s
    this.n++
  }

  view(): CumulativeHistogramView {
    return {boundsSec: this.boundsSec, counts: Array.from(this.counts), sumSec: this.sumSec, count: this.n}
  }
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000
}
