/**
 * Partial objects in the index (range requests): the record of a sparse body file and its present-slice bitmap,
 * created when the first slice arrives, marked as slices complete, dropped when the object changes, promoted to a
 * complete object (same file) once every slice is present. The request-side logic is src/proxy/partial/.
 */
import {BodyFiles} from './body-files.js'
import type {AccessTracker} from './access.js'
import {bodyFileName, indexKey, storedKey} from './keys.js'
import {createPartialInTxn, markPartialInTxn, removePartialInTxn} from './partial-index.js'
import type {StoreState} from './state.js'
import type {NewPartial, ObjectRecord, PartialHeadUpdate, PartialRecord} from './types.js'

export class Partials {
  constructor(
    private readonly st: StoreState,
    private readonly access: AccessTracker,
  ) {}

  get(cacheKey: string, variant: string): PartialRecord | undefined {
    const {st} = this
    const p = st.index.getPartialRecord(cacheKey, variant)
    return p && {...p, present: Buffer.from(p.present)}
  }

  path(file: string): string {
    const {st} = this
    return st.files.pathOf(file)
  }

  /** A new, unique body file for a partial object: created empty (0600), so opening it for writing keeps that mode. */
  async newFile(cacheKey: string, variant: string): Promise<{file: string; path: string}> {
    const {st} = this
    const file = bodyFileName(indexKey(cacheKey, variant), 'p' + BodyFiles.uniqueSuffix())
    return {file, path: await st.files.createEmpty(file)}
  }

  /** A slice fetch begins: purges from now on are seen by create(…, seq). Pair with endFill. */
  beginFill(): number {
    const {st} = this
    return st.purgeLog.fillStarted()
  }

  endFill(seq: number): void {
    const {st} = this
    st.purgeLog.fillEnded(seq)
  }

  /** Index a new partial object (replacing any other partial of that key). Null when a purge since `seq` forbids it. */
  async create(p: NewPartial, seq: number): Promise<PartialRecord | null> {
    const {st} = this
    if (st.closed) return null
    const sk = storedKey(p.key, p.variant)
    return st.track(
      st.mutate((_dead, deadFiles) => {
        if (st.purgeLog.check(p.key, seq) !== undefined) return null
        return createPartialInTxn(st.index, sk, p, Date.now(), deadFiles)
      }),
    )
  }

  /** Mark fully written slices present (and store newer response metadata). False when the partial is gone or replaced. */
  async mark(cacheKey: string, variant: string, file: string, slices: readonly number[], head?: PartialHeadUpdate): Promise<boolean> {
    const {st} = this
    if (st.closed) return false
    const sk = storedKey(cacheKey, variant)
    const r = await st.track(st.mutate(() => markPartialInTxn(st.index, sk, file, slices, head, Date.now())))
    if (r) st.grew()
    return r !== undefined
  }

  /** Drop a partial object (only if its body is still `file`, when given); its file is deleted. */
  async remove(cacheKey: string, variant: string, file?: string): Promise<void> {
    const {st} = this
    if (st.closed) return
    const sk = storedKey(cacheKey, variant)
    await st.track(st.mutate((_dead, deadFiles) => removePartialInTxn(st.index, sk, file, deadFiles) !== undefined))
  }

  /**
   * Every slice is present: the partial becomes a complete object on the same body file (CRC32C of the whole body
   * computed by the caller). Null when the partial is gone or replaced meanwhile.
   */
  async promote(cacheKey: string, variant: string, file: string, crc: number): Promise<ObjectRecord | null> {
    const {st} = this
    if (st.closed) return null
    const sk = storedKey(cacheKey, variant)
    const rec = await st.track(
      st.mutate((dead, deadFiles) => {
        const cur = st.index.partials.get(sk)
        if (!cur || cur.file !== file) return null
        st.index.removePartialInTxn(sk, cur, deadFiles, true)
        const now = Date.now()
        const r: ObjectRecord = {
          key: cacheKey,
          variant,
          url: cur.url,
          status: 200,
          statusText: cur.statusText,
          headers: cur.headers,
          requestTime: cur.requestTime,
          responseTime: cur.responseTime,
          policy: cur.policy,
          size: cur.size,
          crc32c: crc,
          file,
          storedAt: now,
          lastAccess: now,
          hits: 0,
        }
        st.index.putRecordInTxn(sk, r, dead)
        st.index.updateVaryInTxn(cacheKey, variant, cur.vary, st.opts.maxVariants, (k, x) => this.access.lastAccessOf(k, x), dead)
        return r
      }),
    )
    if (rec) st.grew()
    return rec
  }
}
