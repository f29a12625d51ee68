import {lruBucket, parseLruKey} from './keys.js'
import type {LmdbIndex} from './lmdb-index.js'
import {scanPage} from './scan.js'
import type {ObjectRecord} from './types.js'

const EMPTY = Buffer.alloc(0)

/**
 * One eviction batch (call inside a transaction): walk the `lru` db from its oldest bucket and remove objects
 * until diskBytes <= targetBytes or `batch` entries were looked at. Stale lru entries (the object moved to another
 * bucket or is gone) are dropped on the way. Returns how many objects were evicted.
 */
export function evictBatchInTxn(index: LmdbIndex, targetBytes: number, batch: number, dead: ObjectRecord[]): {evicted: number; exhausted: boolean} {
  const {entries, next} = scanPage(index.lru, {prefix: EMPTY, limit: batch})
  let evicted = 0
  for (const {key: k} of entries) {
    if (index.totals.diskBytes <= targetBytes) break
    const {bucket, sk} = parseLruKey(k)
    const rec = index.objects.get(sk)
    if (!rec || lruBucket(rec.lastAccess) !== bucket) {
      void index.lru.remove(k)
      continue
    }
    index.removeInTxn(sk, rec, dead, true)
    evicted++
  }
  index.totals.evictions += evicted
  return {evicted, exhausted: next === undefined}
}

/** Whether a record is past its freshness lifetime by more than `graceSeconds` and cannot be revalidated. */
export function isGarbage(rec: ObjectRecord, now: number, graceSeconds: number): boolean {
  const p = rec.policy
  if (p.etag !== undefined || p.lastModified !== undefined) return false
  const age = p.correctedInitialAge + Math.max(0, now - rec.responseTime) / 1000
  if (age - p.lifetime > graceSeconds) return true
  return rec.invalidatedAt !== undefined && now - rec.invalidatedAt > graceSeconds * 1000
}

/**
 * One slice of the expired-object GC (call inside a transaction): look at up to `slice` records after `cursor`
 * (exclusive; '' = from the start), remove garbage. Returns the next cursor ('' when the walk wrapped around).
 */
export function gcSliceInTxn(
  index: LmdbIndex,
  cursor: string,
  slice: number,
  now: number,
  graceSeconds: number,
  dead: ObjectRecord[],
): {next: string; removed: number} {
  let removed = 0
  let last = ''
  let seen = 0
  const {entries} = scanPage(index.objects, {prefix: '', after: cursor === '' ? undefined : cursor, limit: slice})
  for (const {key, value} of entries) {
    seen++
    last = key
    if (isGarbage(value, now, graceSeconds)) {
      index.removeInTxn(key, value, dead, true)
      removed++
    }
  }
  index.totals.expiredRemoved += removed
  return {next: seen < slice ? '' : last, removed}
}
