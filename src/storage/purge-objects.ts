/**
 * Purging stored objects: one URL (every Vary variant), or every URL under a prefix (a paged key-range scan, one
 * transaction per page, yielding between pages so hits keep flowing during a million-key purge). `expire` marks
 * records invalidated (the next request revalidates), `delete` removes them and their body files. Partial objects of
 * the keys always go. The purge log makes fills that began before the purge unable to bring the data back.
 */
import {prefixRange} from './keys.js'
import {scanPage} from './scan.js'
import {type StoreState, yieldToLoop} from './state.js'
import type {ObjectRecord, PartialRecord, PurgeMode, PurgeResult} from './types.js'

/** Keys per transaction for purge batches. */
// Small enough that one batch holds the event loop for a few ms (hits keep flowing during a million-key purge).
export const PURGE_BATCH = 250

export class Purger {
  constructor(private readonly st: StoreState) {}

  /** Purge every variant of one URL (and its VaryRecord in delete mode). */
  async key(cacheKey: string, mode: PurgeMode): Promise<PurgeResult> {
    const {st} = this
    st.purgeLog.record(cacheKey, false, mode)
    const result: PurgeResult = {matched: 0, purged: 0, bytesFreed: 0}
    if (st.closed) return result
    await st.track(
      st.mutate((dead, deadFiles) => {
        const entries = st.index.variantEntries(cacheKey)
        this.entriesInTxn(entries, mode, dead, result)
        if (mode === 'delete') st.index.removeVaryInTxn(cacheKey)
        const partials = st.index.partialEntries(cacheKey)
        this.partialsInTxn(partials, deadFiles, result)
        return entries.length > 0 || partials.length > 0
      }),
    )
    return result
  }

  /**
   * Purge every URL starting with `prefix`: a key-range scan in pages of PURGE_BATCH keys, one transaction per page,
   * yielding to the event loop in between. A prefix longer than what stored keys keep is checked against each
   * record's full key.
   */
  async prefix(prefix: string, mode: PurgeMode, onProgress?: (r: PurgeResult) => void): Promise<PurgeResult> {
    const {st} = this
    st.purgeLog.record(prefix, true, mode)
    const result: PurgeResult = {matched: 0, purged: 0, bytesFreed: 0}
    const {start, exact} = prefixRange(prefix)
    const match = exact ? undefined : (r: {key: string}) => r.key.startsWith(prefix)
    let after: string | undefined
    while (!st.closed) {
      const {n, next} = await st.track(
        st.mutate((dead) => {
          const page = scanPage(st.index.objects, {prefix: start, after, limit: PURGE_BATCH, match})
          this.entriesInTxn(page.entries, mode, dead, result)
          if (mode === 'delete') {
            let prev: string | undefined
            for (const {value} of page.entries) {
              if (value.key !== prev) st.index.removeVaryInTxn(value.key)
              prev = value.key
            }
          }
          return {n: page.entries.length, next: page.next}
        }),
      )
      if (n > 0) onProgress?.({...result})
      if (next === undefined) break
      after = next
      await yieldToLoop()
    }
    // Partial objects (either mode removes them: a stale partial is never reused anyway).
    after = undefined
    while (!st.closed) {
      const {n, next} = await st.track(
        st.mutate((_dead, deadFiles) => {
          const page = scanPage(st.index.partials, {prefix: start, after, limit: PURGE_BATCH, match})
          this.partialsInTxn(page.entries, deadFiles, result)
          return {n: page.entries.length, next: page.next}
        }),
      )
      if (n > 0) onProgress?.({...result})
      if (next === undefined) break
      after = next
      await yieldToLoop()
    }
    return result
  }

  private partialsInTxn(entries: ReadonlyArray<{key: string; value: PartialRecord}>, deadFiles: string[], result: PurgeResult): void {
    const {st} = this
    for (const {key, value} of entries) {
      st.index.removePartialInTxn(key, value, deadFiles)
      result.matched++
      result.purged++
      result.bytesFreed += value.presentBytes
    }
  }

  private entriesInTxn(entries: ReadonlyArray<{key: string; value: ObjectRecord}>, mode: PurgeMode, dead: ObjectRecord[], result: PurgeResult): void {
    const {st} = this
    const now = Date.now()
    for (const {key: k, value: rec} of entries) {
      result.matched++
      result.purged++
      if (mode === 'delete') {
        result.bytesFreed += rec.size
        st.index.removeInTxn(k, rec, dead, false)
      } else {
        st.index.putObjectInTxn(k, {...rec, invalidatedAt: now})
      }
    }
  }
}
