/**
 * Transaction helpers for partial objects (call them inside LmdbIndex.transaction(); they collect the body files
 * of removed partial records in `deadFiles` so the caller deletes them once the transaction committed).
 */
import type {LmdbIndex} from './lmdb-index.js'
import {scanPage} from './scan.js'
import {hasSlice, newBitmap, setSlice, sliceCount, sliceLength, toBitmap} from './partial-slices.js'
import type {NewPartial, PartialHeadUpdate, PartialRecord} from './types.js'

/** Create (or replace) the partial record of `sk`, with no slice present yet. */
export function createPartialInTxn(index: LmdbIndex, sk: string, p: NewPartial, now: number, deadFiles: string[]): PartialRecord {
  const old = index.partials.get(sk)
  if (old) index.removePartialInTxn(sk, old, deadFiles)
  const rec: PartialRecord = {...p, present: newBitmap(sliceCount(p.size, p.sliceSize)), presentBytes: 0, storedAt: now, lastAccess: now}
  index.putPartialInTxn(sk, rec, 0, true)
  return rec
}

/**
 * Mark slices present (and take newer response metadata) on the partial record of `sk`, if it is still the one
 * whose body lives in `file`. Returns the updated record, or undefined when it is gone or was replaced.
 */
export function markPartialInTxn(index: LmdbIndex, sk: string, file: string, slices: readonly number[], head: PartialHeadUpdate | undefined, now: number): PartialRecord | undefined {
  const cur = index.partials.get(sk)
  if (!cur || cur.file !== file) return undefined
  const n = sliceCount(cur.size, cur.sliceSize)
  const present = toBitmap(cur.present, n)
  let added = 0
  for (const k of slices) {
    if (k < 0 || k >= n || hasSlice(present, k)) continue
    setSlice(present, k)
    added += sliceLength(k, cur.sliceSize, cur.size)
  }
  const next: PartialRecord = {...cur, ...head, present, presentBytes: cur.presentBytes + added, lastAccess: now}
  index.putPartialInTxn(sk, next, added, false)
  return next
}

/** Remove the partial record of `sk` (only if its body is `file`, when given). */
export function removePartialInTxn(index: LmdbIndex, sk: string, file: string | undefined, deadFiles: string[]): PartialRecord | undefined {
  const cur = index.partials.get(sk)
  if (!cur || (file !== undefined && cur.file !== file)) return undefined
  index.removePartialInTxn(sk, cur, deadFiles)
  return cur
}


/** Partial records stale for longer than `graceSeconds` (a stale partial is never reused, so it is only garbage). */
export function isPartialGarbage(rec: PartialRecord, now: number, graceSeconds: number): boolean {
  const p = rec.policy
  const age = p.correctedInitialAge + Math.max(0, now - rec.responseTime) / 1000
  return age - p.lifetime > graceSeconds
}

/** Remove partial records, oldest access first among a batch, until diskBytes <= target. Returns how many went. */
export function evictPartialsInTxn(index: LmdbIndex, targetBytes: number, batch: number, deadFiles: string[]): number {
  const {entries} = scanPage(index.partials, {prefix: '', limit: batch})
  entries.sort((a, b) => a.value.lastAccess - b.value.lastAccess)
  let n = 0
  for (const {key, value} of entries) {
    if (index.totals.diskBytes <= targetBytes) break
    index.removePartialInTxn(key, value, deadFiles)
    n++
  }
  index.totals.evictions += n
  return n
}
