/**
 * Access tracking: hits and last-access times, counted in memory and written to the index in batches (never one
 * write per hit). The LRU entry of a record moves only when its minute bucket changes (eviction order needs no
 * more), and a key hit thousands of times a second costs one record rewrite every few minutes.
 */
import {lruBucket, lruKey, storedKey} from './keys.js'
import type {StoreState} from './state.js'
import type {ObjectRecord} from './types.js'

interface PendingTouch {
  file: string
  hits: number
  last: number
  /** When this entry started collecting (an entry is written at least every TOUCH_PERSIST_MAX_MS). */
  since: number
  /** LRU bucket of the record's stored lastAccess when this entry started (the periodic flush needs no index read). */
  bucket: number
}

/**
 * Access stats are written when a key's LRU minute bucket changes (eviction order needs that), else at least
 * this often: a key hit thousands of times a second costs one record rewrite per minute, not one per flush.
 */
const TOUCH_PERSIST_MAX_MS = 5 * 60_000

export class AccessTracker {
  private readonly pending = new Map<string, PendingTouch>()
  private flushing: Promise<void> | undefined

  constructor(private readonly st: StoreState) {}

  /** Count a hit; written to the index in batches (touchFlushIntervalMs), never one write per hit. */
  touch(rec: ObjectRecord): void {
    const sk = storedKey(rec.key, rec.variant)
    const now = Date.now()
    const t = this.pending.get(sk)
    if (t && t.file === rec.file) {
      t.hits++
      t.last = now
    } else {
      this.pending.set(sk, {file: rec.file, hits: 1, last: now, since: now, bucket: lruBucket(rec.lastAccess)})
    }
  }

  /** Hits and last access of a record including touches not written yet (for inspect). */
  accessInfo(rec: ObjectRecord): {hits: number; lastAccess: number} {
    const t = this.pending.get(storedKey(rec.key, rec.variant))
    return t && t.file === rec.file ? {hits: rec.hits + t.hits, lastAccess: Math.max(rec.lastAccess, t.last)} : {hits: rec.hits, lastAccess: rec.lastAccess}
  }

  /** The last access of the record under stored key `sk`, touches not written yet included (variant replacement). */
  lastAccessOf(sk: string, rec: ObjectRecord): number {
    const t = this.pending.get(sk)
    return t && t.file === rec.file ? Math.max(t.last, rec.lastAccess) : rec.lastAccess
  }

  /**
   * Write batched touches (hits, lastAccess; the lru entry only when its minute bucket changes). With `all` false
   * (the periodic flush) only keys whose LRU bucket moved or that waited TOUCH_PERSIST_MAX_MS are written.
   */
  flush(all = true): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush(all))
    const {index} = this.st
    if (this.pending.size === 0 || this.st.closedIndex) return Promise.resolve()
    let batch: Array<[string, PendingTouch]>
    if (!all) {
      // Decided from the entries alone (no index read, no copy of the map): the periodic flush of a store with many
      // keys hit costs what is due, not one LMDB read per pending key every second. A record rewritten meanwhile is
      // re-checked inside the transaction below.
      const now = Date.now()
      batch = []
      for (const [sk, t] of this.pending) {
        if (t.bucket === lruBucket(t.last) && now - t.since < TOUCH_PERSIST_MAX_MS) continue
        this.pending.delete(sk)
        batch.push([sk, t])
      }
      if (batch.length === 0) return Promise.resolve()
    } else {
      batch = [...this.pending]
      this.pending.clear()
    }
    const p = index
      .transaction(() => {
        for (const [sk, t] of batch) {
          const cur = index.objects.get(sk)
          if (!cur || cur.file !== t.file) continue
          const last = Math.max(cur.lastAccess, t.last)
          const ob = lruBucket(cur.lastAccess)
          const nb = lruBucket(last)
          index.putObjectInTxn(sk, {...cur, hits: cur.hits + t.hits, lastAccess: last})
          if (ob !== nb) {
            void index.lru.remove(lruKey(ob, sk))
            void index.lru.put(lruKey(nb, sk), 1)
          }
        }
      })
      .catch((err: unknown) => this.st.log?.warn({err}, 'storage: flushing touches failed'))
      .finally(() => {
        this.flushing = undefined
      })
    this.flushing = p
    return p
  }
}
