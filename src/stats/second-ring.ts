import type {StatsSeries} from './schema.js'

const SERIES_SEC = 300
const RATE_SEC = 5

function ratio(num: number, den: number): number | null {
  return den > 0 ? num / den : null
}

/**
 * Per-second counters for the last five minutes, in ring buffers (index = epoch second % SERIES_SEC; a slot whose
 * stamp is not its second is stale and reads as zero). Recording only bumps typed-array cells.
 */
export class SecondRing {
  private readonly stamp = new Float64Array(SERIES_SEC).fill(Number.NaN)
  private readonly requests = new Float64Array(SERIES_SEC)
  private readonly lookups = new Float64Array(SERIES_SEC)
  private readonly hits = new Float64Array(SERIES_SEC)
  private readonly lookupBytes = new Float64Array(SERIES_SEC)
  private readonly hitBytes = new Float64Array(SERIES_SEC)
  private readonly bytesOut = new Float64Array(SERIES_SEC)
  private readonly bytesIn = new Float64Array(SERIES_SEC)
  private readonly origin = new Float64Array(SERIES_SEC)

  /** A finished request: `lookup` when it consulted the cache, `hit` when the cache answered it. */
  request(sec: number, bytes: number, lookup: boolean, hit: boolean): void {
    const s = this.slot(sec)
    this.requests[s]++
    this.bytesOut[s] += bytes
    if (lookup) {
      this.lookups[s]++
      this.lookupBytes[s] += bytes
      if (hit) {
        this.hits[s]++
        this.hitBytes[s] += bytes
      }
    }
  }

  originRequest(sec: number, bytesIn: number): void {
    const s = this.slot(sec)
    this.origin[s]++
    this.bytesIn[s] += bytesIn
  }

  originBytes(sec: number, bytesIn: number): void {
    this.bytesIn[this.slot(sec)] += bytesIn
  }

  /** Rates over the last RATE_SEC complete seconds and the series since `startSec`, as of second `nowSec`. */
  read(nowSec: number, startSec: number): StatsSeries {
    const endSec = nowSec - 1 // last complete second

    // Series: only seconds since start, so a fresh daemon does not show five minutes of zeros.
    const len = Math.max(0, Math.min(SERIES_SEC, endSec - startSec + 1))
    const requestsPerSec = new Array<number>(len)
    const hitRatio = new Array<number | null>(len)
    const byteHitRatio = new Array<number | null>(len)
    const bytesOutPerSec = new Array<number>(len)
    const bytesInPerSec = new Array<number>(len)
    for (let i = 0; i < len; i++) {
      const sec = endSec - len + 1 + i
      const s = sec % SERIES_SEC
      if (this.stamp[s] !== sec) {
        requestsPerSec[i] = 0
        hitRatio[i] = null
        byteHitRatio[i] = null
        bytesOutPerSec[i] = 0
        bytesInPerSec[i] = 0
        continue
      }
      requestsPerSec[i] = this.requests[s]
      hitRatio[i] = ratio(this.hits[s], this.lookups[s])
      byteHitRatio[i] = ratio(this.hitBytes[s], this.lookupBytes[s])
      bytesOutPerSec[i] = this.bytesOut[s]
      bytesInPerSec[i] = this.bytesIn[s]
    }

    const rateLen = Math.max(1, Math.min(RATE_SEC, len))
    let rReq = 0, rHits = 0, rLookups = 0, rHitBytes = 0, rLookupBytes = 0, rOut = 0, rIn = 0, rOrigin = 0
    for (let sec = endSec - rateLen + 1; sec <= endSec; sec++) {
      const s = ((sec % SERIES_SEC) + SERIES_SEC) % SERIES_SEC
      if (this.stamp[s] !== sec) continue
      rReq += this.requests[s]
      rHits += this.hits[s]
      rLookups += this.lookups[s]
      rHitBytes += this.hitBytes[s]
      rLookupBytes += this.lookupBytes[s]
      rOut += this.bytesOut[s]
      rIn += this.bytesIn[s]
      rOrigin += this.origin[s]
    }
    return {
      rates: {
        windowSec: rateLen,
        requestsPerSec: rReq / rateLen,
        hitRatio: ratio(rHits, rLookups),
        byteHitRatio: ratio(rHitBytes, rLookupBytes),
        bytesOutPerSec: rOut / rateLen,
        bytesInPerSec: rIn / rateLen,
        originRequestsPerSec: rOrigin / rateLen,
      },
      series: {intervalSec: 1, endAt: (endSec + 1) * 1000, requestsPerSec, hitRatio, byteHitRatio, bytesOutPerSec, bytesInPerSec},
    }
  }

  private slot(sec: number): number {
    const s = sec % SERIES_SEC
    if (this.stamp[s] !== sec) {
      this.stamp[s] = sec
      this.requests[s] = 0
      this.lookups[s] = 0
      this.hits[s] = 0
      this.lookupBytes[s] = 0
      this.hitBytes[s] = 0
      this.bytesOut[s] = 0
      this.bytesIn[s] = 0
      this.origin[s] = 0
    }
    return s
  }
}
