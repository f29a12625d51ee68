/**
 * Committing fills: a body written to a temp file (fill-writer.ts) becomes visible only here — renamed into place,
 * then indexed in one LMDB transaction that also drops the partial object of the key, updates its Vary state and,
 * for a small body, fills the memory tier. A purge of the key since the fill began wins (the fill is not stored, or
 * stored already expired).
 */
import {BodyFiles, unlinkQuiet} from './body-files.js'
import type {AccessTracker} from './access.js'
import {FileFillWriter} from './fill-writer.js'
import type {CompletedFill, FillHost} from './fill-writer.js'
import {bodyFileName, indexKey, storedKey} from './keys.js'
import {removePartialInTxn} from './partial-index.js'
import type {StoreState} from './state.js'
import type {FillWriter, ObjectRecord} from './types.js'

export class Commits {
  private readonly host: FillHost
  /** Fill writers not yet committed or aborted. */
  private readonly openFills = new Set<FileFillWriter>()

  constructor(
    private readonly st: StoreState,
    private readonly access: AccessTracker,
  ) {
    const memory = st.memory
    const opts = st.opts
    this.host = {
      get closed() {
        return st.closed
      },
      memoryCaptureLimit: memory.enabled ? Math.min(opts.memoryMaxObjectBytes, opts.maxMemoryBytes) : 0,
      commitFill: (fill) => st.track(this.commitFill(fill)),
      fillEnded: (seq) => st.purgeLog.fillEnded(seq),
      background: st.background,
      log: opts.log,
    }
  }

  beginFill(cacheKey: string, variant: string): FillWriter {
    const {st} = this
    const seq = st.purgeLog.fillStarted()
    const w = new FileFillWriter(this.host, cacheKey, variant, st.files.newTempPath(), seq, (rec) => st.files.pathOf(rec.file))
    // Fills still open when the store closes are aborted there, so their temp file handles are closed, not left to GC.
    this.openFills.add(w)
    void w.settled.then(() => this.openFills.delete(w))
    return w
  }

  /** Abort the fills still open (store closing) and wait until each has settled. */
  async abortOpenFills(): Promise<void> {
    const unfinished = [...this.openFills]
    for (const w of unfinished) w.abort(new Error('storage closed'))
    await Promise.all(unfinished.map((w) => w.settled))
  }

  private async commitFill(fill: CompletedFill): Promise<ObjectRecord | null> {
    const {st} = this
    const {cacheKey, variant, meta} = fill
    const sk = storedKey(cacheKey, variant)
    let file: string | undefined
    let ended = false
    try {
      if (st.closed || st.purgeLog.check(cacheKey, fill.startSeq) === 'delete') {
        await unlinkQuiet(fill.tmpPath)
        return null
      }
      file = bodyFileName(indexKey(cacheKey, variant), BodyFiles.uniqueSuffix())
      // Between rename and commit no record names the file: the orphan sweep must see it as live.
      st.installing.add(file)
      await st.files.install(fill.tmpPath, file)
      if (st.closed) {
        await st.files.remove(file)
        return null
      }
      const now = Date.now()
      const stored = file
      const rec = await st.mutate((dead, deadFiles) => {
        // Checked inside the write transaction: a purge either is in the log now, or its scan runs after this put.
        const purge = st.purgeLog.check(cacheKey, fill.startSeq)
        st.purgeLog.fillEnded(fill.startSeq)
        ended = true
        if (purge === 'delete') return null
        const r: ObjectRecord = {
          key: cacheKey,
          variant,
          url: meta.url,
          status: meta.status,
          statusText: meta.statusText,
          headers: meta.headers,
          requestTime: meta.requestTime,
          responseTime: meta.responseTime,
          policy: meta.policy,
          size: fill.size,
          crc32c: fill.crc32c,
          file: stored,
          storedAt: now,
          lastAccess: now,
          hits: 0,
        }
        if (purge === 'expire') r.invalidatedAt = now
        st.index.putRecordInTxn(sk, r, dead)
        // A complete object replaces the partial one of the same key.
        removePartialInTxn(st.index, sk, undefined, deadFiles)
        st.index.updateVaryInTxn(cacheKey, variant, meta.vary ?? [], st.opts.maxVariants, (k, x) => this.access.lastAccessOf(k, x), dead)
        // Set here, not after the commit: a purge that runs right after this transaction must find it to drop it.
        if (fill.body) st.memory.set(stored, fill.body)
        return r
      })
      if (!rec) {
        await st.files.remove(stored)
        return null
      }
      st.grew()
      return rec
    } catch (err) {
      if (file) await st.files.remove(file).catch(() => {})
      else await unlinkQuiet(fill.tmpPath).catch(() => {})
      throw err
    } finally {
      if (file) st.installing.delete(file)
      if (!ended) st.purgeLog.fillEnded(fill.startSeq)
    }
  }

  // ---- revalidation ------------------------------------------------------------------------

  /** A 304 refreshed a stored response: its merged headers, times and policy replace the record's (same body). */
  async refresh(
    cacheKey: string,
    variant: string,
    update: Pick<ObjectRecord, 'headers' | 'requestTime' | 'responseTime' | 'policy'> & {status?: number},
  ): Promise<ObjectRecord | undefined> {
    const {st} = this
    if (st.closed) return undefined
    const sk = storedKey(cacheKey, variant)
    return st.track(
      st.mutate(() => {
        const cur = st.index.getObject(cacheKey, variant)
        if (!cur) return undefined
        const next: ObjectRecord = {
          ...cur,
          headers: update.headers,
          requestTime: update.requestTime,
          responseTime: update.responseTime,
          policy: update.policy,
          status: update.status ?? cur.status,
        }
        delete next.invalidatedAt
        st.index.putObjectInTxn(sk, next)
        return next
      }),
    )
  }
}
