import type {TopKey} from './schema.js'
import {SpaceSaving} from './space-saving.js'

const SUB_SEC = 10
const SUBS = 6

/**
 * The heaviest keys of the last minute: SUBS sub-windows of SUB_SEC seconds, each with one space-saving sketch ranked
 * by requests and one by bytes; a snapshot sums the live sub-windows. Memory is bounded by the sketch capacity.
 */
export class TopKeys {
  private readonly subStamp = new Float64Array(SUBS).fill(Number.NaN)
  private readonly byReq: SpaceSaving[]
  private readonly byBytes: SpaceSaving[]

  constructor(
    capacity: number,
    private readonly topN: number,
  ) {
    this.byReq = Array.from({length: SUBS}, () => new SpaceSaving(capacity))
    this.byBytes = Array.from({length: SUBS}, () => new SpaceSaving(capacity))
  }

  offer(sec: number, key: string, bytes: number): void {
    const sub = this.subWindow(sec)
    this.byReq[sub]!.offer(key, 1, bytes)
    // A zero-weight offer would still displace the minimum entry, so skip it.
    if (bytes > 0) this.byBytes[sub]!.offer(key, bytes, 1)
  }

  read(nowSec: number): {windowSec: number; granularitySec: number; byRequests: TopKey[]; byBytes: TopKey[]} {
    return {windowSec: SUBS * SUB_SEC, granularitySec: SUB_SEC, byRequests: this.merge(this.byReq, nowSec, false), byBytes: this.merge(this.byBytes, nowSec, true)}
  }

  /** Requests the key certainly had in the live sub-windows (a lower bound: hotness decisions never over-count). */
  requestsFor(key: string, nowSec: number): number {
    const nowSub = Math.floor(nowSec / SUB_SEC)
    let n = 0
    for (let i = 0; i < SUBS; i++) {
      const stamp = this.subStamp[i]
      if (stamp <= nowSub && stamp > nowSub - SUBS) n += this.byReq[i]!.guaranteed(key)
    }
    return n
  }

  /** The `n` keys with the most requests in the live sub-windows (the hot set). */
  hottest(nowSec: number, n: number): TopKey[] {
    return this.merge(this.byReq, nowSec, false, n)
  }

  /** Entries currently held by the sketches and their fixed bound (memory check). */
  usage(): {entries: number; capacity: number} {
    let entries = 0
    let capacity = 0
    for (const s of [...this.byReq, ...this.byBytes]) {
      entries += s.size
      capacity += s.capacity
    }
    return {entries, capacity}
  }

  private subWindow(sec: number): number {
    const sub = Math.floor(sec / SUB_SEC)
    const i = sub % SUBS
    if (this.subStamp[i] !== sub) {
      this.subStamp[i] = sub
      this.byReq[i]!.clear()
      this.byBytes[i]!.clear()
    }
    return i
  }

  /** Sums the live sub-window sketches into one ranking. */
  private merge(sketches: SpaceSaving[], nowSec: number, byBytes: boolean, topN = this.topN): TopKey[] {
    const nowSub = Math.floor(nowSec / SUB_SEC)
    const live: SpaceSaving[] = []
    for (let i = 0; i < SUBS; i++) {
      const stamp = this.subStamp[i]
      if (stamp <= nowSub && stamp > nowSub - SUBS) live.push(sketches[i]!)
    }
    const acc = new Map<string, {count: number; err: number; aux: number}>()
    for (const sk of live) {
      sk.forEach((key, count, err, aux) => {
        const e = acc.get(key)
        if (e) {
          e.count += count
          e.err += err
          e.aux += aux
        } else acc.set(key, {count, err, aux})
      })
    }
    // A key missing from a full sketch may still have had up to its floor there: widen the bound, not the estimate
    // (adding it to the estimate would lift every newcomer above keys that were steady all minute).
    for (const sk of live) {
      const floor = sk.floor
      if (floor === 0) continue
      for (const [key, e] of acc) if (!sk.has(key)) e.err += floor
    }
    const rows = [...acc].sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1)).slice(0, topN)
    return rows.map(([key, e]) =>
      byBytes ? {key, requests: e.aux, bytes: e.count, error: e.err} : {key, requests: e.count, bytes: e.aux, error: e.err},
    )
  }
}
