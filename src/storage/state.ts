/**
 * What the parts of one store share (store.ts composes them): the options, the body files, the LMDB index, the
 * memory tier, the purge log, the close flags, the tracker of writes in flight, and the one write-transaction helper
 * that also deletes the body files of what it removed once the transaction committed.
 */
import type {BackgroundRunner} from '../core/background.js'
import type {BodyFiles} from './body-files.js'
import type {LmdbIndex} from './lmdb-index.js'
import type {MemoryTier} from './memory-tier.js'
import {PurgeLog} from './purge-log.js'
import type {ObjectRecord} from './types.js'

export interface StorageLog {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface StorageOptions {
  /** Storage root; created if missing. LMDB under <dir>/index, bodies under <dir>/objects, temp files under <dir>/tmp. */
  dir: string
  /** Body bytes on disk; 0 = unlimited. */
  maxDiskBytes: number
  /** Start evicting above diskHighWatermark × maxDiskBytes ... */
  diskHighWatermark: number
  /** ... down to diskLowWatermark × maxDiskBytes. */
  diskLowWatermark: number
  /** Memory tier byte budget (0 disables). */
  maxMemoryBytes: number
  /** Only bodies <= this go to the memory tier. */
  memoryMaxObjectBytes: number
  /** Variants kept per URL (least recently used one replaced). */
  maxVariants: number
  /** Background eviction / GC tick. */
  evictionIntervalMs: number
  /** Objects stale for longer than this, with no validator, are removed in the background. */
  gcGraceSeconds: number
  log?: StorageLog
  /** Runner for background work (eviction, GC, cleanup); one is made when not given. */
  background?: BackgroundRunner
  /** How often batched touches (hits, last access) are written; default 1000 ms. */
  touchFlushIntervalMs?: number
  /**
   * Take the storage-directory lock (default true): this process owns the directory, sweeps temp files and orphan
   * bodies, and converts an index of an older format. Other processes of the same daemon open with false.
   */
  lock?: boolean
  /**
   * The orphan sweep at start-up also leaves files changed less than this long before open() (default 0: bodies this
   * process installs are known to it until committed, and on file systems with ns timestamps every later change is
   * after open(); raise it on a file system with coarse timestamps).
   */
  orphanSlackMs?: number
}

export const yieldToLoop = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve))

export class StoreState {
  closed = false
  /** The index is closed (after close() flushed it): nothing may read it any more. */
  closedIndex = false
  /** Body files renamed into objects/ whose commit has not settled yet (live, though no record names them). */
  readonly installing = new Set<string>()
  readonly purgeLog = new PurgeLog()
  private readonly inflight = new Set<Promise<unknown>>()
  /** Set by maintenance: called when a commit may have pushed disk use above the high watermark. */
  grew: () => void = () => {}

  constructor(
    readonly opts: StorageOptions,
    readonly files: BodyFiles,
    readonly index: LmdbIndex,
    readonly memory: MemoryTier,
    readonly background: BackgroundRunner,
  ) {}

  get log(): StorageLog | undefined {
    return this.opts.log
  }

  /** Keep `p` in the set close() waits for. */
  track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p)
    const done = () => this.inflight.delete(p)
    p.then(done, done)
    return p
  }

  /** Wait until no tracked write is in flight (tasks started meanwhile too). */
  async settled(also: () => Array<Promise<unknown> | undefined>): Promise<void> {
    for (;;) {
      const pending = [...this.inflight, ...also().filter((p) => p !== undefined)]
      if (pending.length === 0) return
      await Promise.allSettled(pending)
    }
  }

  /**
   * Run `fn` in a write transaction. Records it removes (pushed to `dead`) lose their body files and memory-tier
   * entries after the commit. Counters are persisted in the same transaction.
   */
  async mutate<T>(fn: (dead: ObjectRecord[], deadFiles: string[]) => T): Promise<T> {
    const dead: ObjectRecord[] = []
    const deadFiles: string[] = []
    const result = await this.index.transaction(() => {
      const r = fn(dead, deadFiles)
      if (dead.length > 0 || deadFiles.length > 0 || r) this.index.persistTotalsInTxn()
      return r
    })
    for (const rec of dead) this.forgetBody(rec)
    for (const f of deadFiles) void this.background.run('storage.delete-body-file', this.files.remove(f))
    return result
  }

  forgetBody(rec: ObjectRecord): void {
    this.memory.delete(rec.file)
    // A failure (EIO…) is logged by the runner; the file, no longer referenced, is reclaimed by a later orphan sweep.
    void this.background.run('storage.delete-body-file', this.files.remove(rec.file))
  }
}
