import type {FileHandle} from 'node:fs/promises'
import fsp from 'node:fs/promises'
import {Readable} from 'node:stream'

import {crc32c} from '@node-rs/crc32'

import type {BackgroundRunner} from '../core/background.js'
import {FILE_MODE, unlinkQuiet} from './body-files.js'
import type {CommitMeta, FillWriter, ObjectRecord} from './types.js'

/** What a finished fill hands to storage for indexing. */
export interface CompletedFill {
  cacheKey: string
  variant: string
  tmpPath: string
  size: number
  crc32c: number
  /** The whole body, when it was small enough to keep for the memory tier. */
  body?: Buffer
  startSeq: number
  meta: CommitMeta
}

export interface FillHost {
  readonly closed: boolean
  /** Whether to keep the chunks in memory while filling (total stays <= this many bytes). */
  readonly memoryCaptureLimit: number
  /** Index the completed fill (or refuse it). Owns the temp file from here on: renames or deletes it. */
  commitFill(fill: CompletedFill): Promise<ObjectRecord | null>
  /** The fill ended without reaching commitFill (abort, refused commit). */
  fillEnded(startSeq: number): void
  /** Runner for the writer's own cleanup (temp file deletion after an abort). */
  readonly background: Pick<BackgroundRunner, 'run'>
  log?: {warn(obj: object, msg?: string): void}
}

const HIGH_WATER = 1024 * 1024
const MAX_WRITEV_BYTES = 4 * 1024 * 1024
const TAIL_CHUNK = 64 * 1024

type State = 'open' | 'committing' | 'complete' | 'aborted'

export class FileFillWriter implements FillWriter {
  private state: State = 'open'
  private fh: FileHandle | undefined
  private readonly opened: Promise<FileHandle>
  private queue: Buffer[] = []
  private queuedBytes = 0
  private flushing: Promise<void> | undefined
  private drainWaiters: Array<() => void> = []
  private crc = 0
  private total = 0
  private flushed = 0
  private memChunks: Buffer[] | undefined = []
  private readonly waiters = new Set<() => void>()
  private readonly pendingTailOpens = new Set<Promise<unknown>>()
  private error: Error | undefined
  /** Where the body lives now (temp path, then the final path after a successful commit). */
  private currentPath: string
  private ended = false

  constructor(
    private readonly host: FillHost,
    readonly cacheKey: string,
    readonly variant: string,
    private readonly tmpPath: string,
    private readonly startSeq: number,
    private readonly finalPathOf: (rec: ObjectRecord) => string,
  ) {
    this.currentPath = tmpPath
    if (host.memoryCaptureLimit <= 0) this.memChunks = undefined
    this.opened = fsp.open(tmpPath, 'w', FILE_MODE)
    this.opened.then(
      (fh) => {
        this.fh = fh
      },
      (err: Error) => this.abort(err),
    )
  }

  get written(): number {
    return this.flushed
  }

  write(chunk: Buffer): boolean {
    if (this.state === 'aborted') return true
    if (this.state !== 'open') throw new Error('FillWriter.write after commit')
    if (chunk.length === 0) return this.queuedBytes < HIGH_WATER
    this.crc = crc32c(chunk, this.crc)
    this.total += chunk.length
    if (this.memChunks) {
      if (this.total <= this.host.memoryCaptureLimit) this.memChunks.push(chunk)
      else this.memChunks = undefined
    }
    this.queue.push(chunk)
    this.queuedBytes += chunk.length
    if (!this.flushing) this.flushing = this.flushLoop()
    // Tail readers of a body held in memory can send these bytes before they reach the disk.
    if (this.memChunks) this.notify()
    return this.queuedBytes < HIGH_WATER
  }

  drain(): Promise<void> {
    if (this.queuedBytes < HIGH_WATER || this.state === 'aborted') return Promise.resolve()
    return new Promise((resolve) => this.drainWaiters.push(resolve))
  }

  private async flushLoop(): Promise<void> {
    try {
      const fh = await this.opened
      while (this.queue.length > 0 && this.state !== 'aborted') {
        let n = 0
        let bytes = 0
        while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.length <= MAX_WRITEV_BYTES)) {
          bytes += this.queue[n]!.length
          n++
        }
        let bufs = this.queue.slice(0, n)
        let left = bytes
        while (left > 0) {
          const {bytesWritten} = await fh.writev(bufs, this.flushed)
          if (this.isAborted()) return
          left -= bytesWritten
          this.flushed += bytesWritten
          this.queuedBytes -= bytesWritten
          if (left > 0) bufs = skipBytes(bufs, bytesWritten)
          this.notify()
        }
        this.queue.splice(0, n)
        if (this.queuedBytes < HIGH_WATER && this.drainWaiters.length > 0) {
          const w = this.drainWaiters
          this.drainWaiters = []
          for (const f of w) f()
        }
      }
    } catch (err) {
      // A write error (ENOSPC, EIO...) fails the fill, also while commit() is waiting for the flush.
      if (this.state === 'open' || this.state === 'committing') this.abortInternal(err as Error)
    } finally {
      this.flushing = undefined
    }
    if (this.isAborted()) void this.host.background.run('storage.fill-cleanup', () => this.cleanupAfterAbort())
  }

  private isAborted(): boolean {
    return this.state === 'aborted'
  }

  private notify(): void {
    if (this.waiters.size === 0) return
    const ws = [...this.waiters]
    this.waiters.clear()
    for (const w of ws) w()
  }

  private async flushAll(): Promise<void> {
    while (this.flushing) await this.flushing
  }

  async commit(meta: CommitMeta): Promise<ObjectRecord | null> {
    if (this.state !== 'open') return null
    this.state = 'committing'
    await this.flushAll()
    if (!this.isAborted()) {
      try {
        await this.opened
      } catch (err) {
        this.abortInternal(err as Error)
      }
    }
    if (this.isAborted()) {
      await this.cleanupAfterAbort()
      return null
    }
    if (meta.expectedLength !== undefined && meta.expectedLength !== this.flushed) {
      this.abortInternal(new Error(`length mismatch: expected ${meta.expectedLength}, got ${this.flushed}`))
      await this.cleanupAfterAbort()
      return null
    }
    // The bytes are complete: tail readers may end normally from here on.
    this.state = 'complete'
    this.notify()
    try {
      await this.fh?.close()
    } catch {
      /* closing a fully written file: nothing to do */
    }
    this.fh = undefined
    // A tail reader being created right now must get its fd before the temp file moves or goes.
    while (this.pendingTailOpens.size > 0) await Promise.allSettled([...this.pendingTailOpens])
    let body: Buffer | undefined
    if (this.memChunks && this.total <= this.host.memoryCaptureLimit) body = Buffer.concat(this.memChunks, this.total)
    // Tail readers keep reading a small body from memory (the same bytes the memory tier gets).
    this.memChunks = body ? [body] : undefined
    if (this.host.closed) {
      await this.endWithoutCommit()
      return null
    }
    this.ended = true
    const settled = this.indexFill(meta, body)
    this.commitSettled = settled.then(
      () => this.resolveSettled(),
      () => this.resolveSettled(),
    )
    return settled
  }

  private commitSettled: Promise<void> | undefined
  private resolveSettled!: () => void
  /** Resolves once the fill is over: committed (or refused) and its temp file handle closed, or aborted and cleaned up. */
  readonly settled: Promise<void> = new Promise((resolve) => {
    this.resolveSettled = resolve
  })

  private async indexFill(meta: CommitMeta, body: Buffer | undefined): Promise<ObjectRecord | null> {
    try {
      const rec = await this.host.commitFill({
        cacheKey: this.cacheKey,
        variant: this.variant,
        tmpPath: this.tmpPath,
        size: this.flushed,
        crc32c: this.crc,
        body,
        startSeq: this.startSeq,
        meta,
      })
      if (rec) this.currentPath = this.finalPathOf(rec)
      return rec
    } catch (err) {
      this.host.log?.warn({err, key: this.cacheKey}, 'storage: commit failed')
      await unlinkQuiet(this.tmpPath).catch(() => {})
      return null
    }
  }

  private async endWithoutCommit(): Promise<void> {
    if (!this.ended) {
      this.ended = true
      this.host.fillEnded(this.startSeq)
    }
    await unlinkQuiet(this.tmpPath).catch(() => {})
    this.resolveSettled()
  }

  abort(reason: Error): void {
    if (this.state !== 'open') return
    this.abortInternal(reason)
    void this.host.background.run('storage.fill-cleanup', () => this.cleanupAfterAbort())
  }

  private abortInternal(reason: Error): void {
    this.state = 'aborted'
    this.error = reason
    this.queue = []
    this.queuedBytes = 0
    this.memChunks = undefined
    const w = this.drainWaiters
    this.drainWaiters = []
    for (const f of w) f()
    this.notify()
  }

  private cleaning: Promise<void> | undefined

  private cleanupAfterAbort(): Promise<void> {
    this.cleaning ??= this.doCleanup()
    return this.cleaning
  }

  private async doCleanup(): Promise<void> {
    await this.opened.catch(() => {})
    if (this.flushing) await this.flushing.catch(() => {})
    const fh = this.fh
    this.fh = undefined
    if (fh) await fh.close().catch(() => {})
    await this.endWithoutCommit()
  }

  // ---- tail readers -------------------------------------------------------------------------

  /** @internal bytes on disk (`written`), bytes received (`total`), whether the body is complete. */
  get tailState(): {written: number; total: number; complete: boolean; error: Error | undefined} {
    return {written: this.flushed, total: this.total, complete: this.state === 'complete', error: this.error}
  }

  /**
   * @internal the received bytes from `pos` to the end of the chunk holding it, while the whole body so far is held
   * in memory (small bodies): tail readers then need no file round trip. Undefined when memory does not cover `pos`.
   */
  get inMemory(): boolean {
    return this.memChunks !== undefined && this.state !== 'aborted'
  }

  memoryAt(pos: number): Buffer | undefined {
    const chunks = this.memChunks
    if (chunks === undefined || this.state === 'aborted') return undefined
    let off = 0
    for (const c of chunks) {
      if (pos < off + c.length) return pos === off ? c : c.subarray(pos - off)
      off += c.length
    }
    return undefined
  }

  /** @internal wait for progress (more bytes, completion or abort). Returns an unsubscribe function. */
  onProgress(fn: () => void): () => void {
    this.waiters.add(fn)
    return () => this.waiters.delete(fn)
  }

  /** @internal open a read fd on the body as it is now (temp file, or final file after commit). */
  openForTail(): Promise<FileHandle> {
    const p = (async () => {
      if (this.state === 'aborted') throw this.error ?? new Error('fill aborted')
      await this.opened
      try {
        return await fsp.open(this.currentPath, 'r')
      } catch (err) {
        // The temp file moved (or went) while we were opening it: retry on the final path once the commit settled.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !this.commitSettled) throw err
        await this.commitSettled
        return fsp.open(this.currentPath, 'r')
      }
    })()
    this.pendingTailOpens.add(p)
    const done = () => this.pendingTailOpens.delete(p)
    p.then(done, done)
    return p
  }

  tail(start = 0): Readable {
    return new TailReader(this, start)
  }
}

function skipBytes(bufs: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = []
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length
      continue
    }
    out.push(n > 0 ? b.subarray(n) : b)
    n = 0
  }
  return out
}

/**
 * Reads a growing body from `pos`, one chunk per _read (so it never reads ahead of the consumer): from the writer's
 * memory while it holds the whole body so far (small bodies: no file is opened), else from the body file (opened on
 * first need).
 */
class TailReader extends Readable {
  private fh: FileHandle | undefined
  private opening = false
  private reading = false
  private unsubscribe: (() => void) | undefined

  constructor(
    private readonly writer: FileFillWriter,
    private pos: number,
  ) {
    super({highWaterMark: TAIL_CHUNK})
  }

  /** A body not (or no longer) held in memory: the fd is taken now, so the file may move or go while we read. */
  override _construct(callback: (error?: Error | null) => void): void {
    if (this.writer.inMemory) {
      callback()
      return
    }
    this.writer.openForTail().then(
      (fh) => {
        this.fh = fh
        callback()
      },
      (err: Error) => callback(err),
    )
  }

  override _read(): void {
    if (this.reading || this.opening || this.destroyed) return
    const {written, total, complete, error} = this.writer.tailState
    if (error) {
      this.destroy(error)
      return
    }
    if (this.fh === undefined && this.pos < total) {
      const mem = this.writer.memoryAt(this.pos)
      if (mem !== undefined) {
        const part = mem.length > TAIL_CHUNK ? mem.subarray(0, TAIL_CHUNK) : mem
        this.pos += part.length
        if (this.push(part)) this._read()
        return
      }
    }
    if (this.pos < written) {
      if (this.fh === undefined) {
        this.opening = true
        this.writer.openForTail().then(
          (fh) => {
            this.opening = false
            if (this.destroyed) {
              void fh.close().catch(() => {})
              return
            }
            this.fh = fh
            this._read()
          },
          (err: Error) => {
            this.opening = false
            this.destroy(err)
          },
        )
        return
      }
      this.reading = true
      const len = Math.min(TAIL_CHUNK, written - this.pos)
      const buf = Buffer.allocUnsafe(len)
      this.fh.read(buf, 0, len, this.pos).then(
        ({bytesRead}) => {
          this.reading = false
          if (this.destroyed) return
          if (bytesRead === 0) {
            this.destroy(new Error('body file truncated while tailing'))
            return
          }
          this.pos += bytesRead
          if (this.push(bytesRead === len ? buf : buf.subarray(0, bytesRead))) this._read()
        },
        (err: Error) => {
          this.reading = false
          this.destroy(err)
        },
      )
      return
    }
    if (complete && this.pos >= total) {
      this.push(null)
      return
    }
    if (!this.unsubscribe) {
      this.unsubscribe = this.writer.onProgress(() => {
        this.unsubscribe = undefined
        this._read()
      })
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.unsubscribe?.()
    this.unsubscribe = undefined
    const fh = this.fh
    this.fh = undefined
    if (fh) fh.close().then(() => callback(err), () => callback(err))
    else callback(err)
  }
}
