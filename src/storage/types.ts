import type {Readable} from 'node:stream'

import type {StoredPolicy} from '../cache/policy-types.js'
import type {RawHeaders} from '../util/raw-headers.js'

/**
 * One stored response (one variant of one URL). Kept in LMDB (msgpack) under its stored key (keys.ts: the cache key,
 * NUL, the variant; long or unusual parts shortened and hashed); cacheKey is the normalized absolute URL
 * (`http://host/path?query`), so every object under a directory is one key range. The record holds the full key and
 * variant: lookups compare them.
 */
export interface ObjectRecord {
  /** Normalized cache key (absolute URL). */
  key: string
  /** Normalized Vary selector ('' when the response has no Vary). */
  variant: string
  /** The URL as first requested (for people and for prefetch). */
  url: string
  status: number
  statusText: string
  /** Stored response header lines in order (hop-by-hop and excluded fields already removed). */
  headers: RawHeaders
  /** ms epoch: when the request that produced (or last validated) this response was sent / its response received. */
  requestTime: number
  responseTime: number
  /** Freshness facts computed at store / revalidation time. */
  policy: StoredPolicy
  /** Body length in bytes and its CRC32C, computed while streaming. */
  size: number
  crc32c: number
  /** Body file name, relative to `<storage>/objects`. Unique per fill: a refill never overwrites a file a reader may hold. */
  file: string
  storedAt: number
  lastAccess: number
  hits: number
  /** Set by a purge in expire mode: the response must be revalidated before reuse (ms epoch). */
  invalidatedAt?: number
}

/** Per-URL Vary state, stored under the stored form of `cacheKey` in a separate LMDB database. */
export interface VaryRecord {
  /** The full cache key (lookups compare it). */
  key: string
  /** Lower-cased field names from the response's Vary, in order; ['*'] never matches. */
  names: string[]
  /** Known variant selectors, most recently used first (bounded by maxVariants). */
  variants: string[]
}

/**
 * A partially stored representation (range requests): a 200's headers and policy, the total length, and which
 * fixed-size slices of the body are present in one sparse file. Kept in the LMDB `partials` database under the same
 * index key as a complete object would be; it becomes an ObjectRecord (same file) once every slice is present.
 */
export interface PartialRecord {
  key: string
  variant: string
  url: string
  statusText: string
  /** As a 200's headers: no Content-Range, Content-Length is the total length. */
  headers: RawHeaders
  requestTime: number
  responseTime: number
  policy: StoredPolicy
  /** Vary field names of the response (lower-case). */
  vary: string[]
  /** Total length of the representation. */
  size: number
  sliceSize: number
  /** Present-slice bitmap: bit k (byte k>>3, bit k&7) set once slice k is fully written. */
  present: Uint8Array
  /** Bytes of the present slices (counted in the disk usage). */
  presentBytes: number
  /** Sparse body file, relative to `<storage>/objects`. */
  file: string
  storedAt: number
  lastAccess: number
}

/** What a partial fill hands to storage when it creates the partial record. */
export type NewPartial = Omit<PartialRecord, 'present' | 'presentBytes' | 'storedAt' | 'lastAccess'>

/** Fresh response metadata from a later slice fill (same validators), replacing the stored one. */
export type PartialHeadUpdate = Pick<PartialRecord, 'headers' | 'statusText' | 'requestTime' | 'responseTime' | 'policy'>

export type PurgeMode = 'delete' | 'expire'

export interface PurgeResult {
  /** Object records (variants) that matched. */
  matched: number
  /** Records removed (delete) or marked stale (expire). */
  purged: number
  /** Body bytes freed (delete mode). */
  bytesFreed: number
}

export interface StorageUsage {
  objects: number
  diskBytes: number
  memoryBytes: number
  memoryObjects: number
  evictions: number
  expiredRemoved: number
  /** Partial objects (range fills) stored; their present bytes are part of diskBytes. */
  partials: number
}

/** What the pipeline supplies when a fill completes; storage adds size, crc32c, file, times of its own. */
export interface CommitMeta {
  url: string
  status: number
  statusText: string
  headers: RawHeaders
  requestTime: number
  responseTime: number
  policy: StoredPolicy
  /** Vary field names of the response (lower-case); [] or undefined when it has none. */
  vary?: string[]
  /** Declared Content-Length, if any: the commit is refused unless exactly this many bytes were written. */
  expectedLength?: number
}

/**
 * A body being written to a temp file while it streams from the origin.
 * Nothing becomes visible to lookups until commit() resolves with a record.
 */
export interface FillWriter {
  readonly cacheKey: string
  readonly variant: string
  /** Bytes written to the temp file so far (what a tail reader can see). */
  readonly written: number
  /** Queue a chunk. Returns false when the caller should wait for drain() before writing more. */
  write(chunk: Buffer): boolean
  /** Resolves when the write queue has room again. */
  drain(): Promise<void>
  /**
   * A reader of the growing body from byte `start`: it yields bytes as they are written,
   * ends when the fill is committed, and errors if the fill is aborted.
   */
  tail(start?: number): Readable
  /**
   * Finish: flush, check the length, rename into place and index it. Resolves with the stored record,
   * or null when it must not be stored (a purge of this key happened meanwhile, length mismatch, storage closing).
   * Tail readers still end normally after a null commit (the bytes were complete) unless the length mismatched.
   */
  commit(meta: CommitMeta): Promise<ObjectRecord | null>
  /** Give up: delete the temp file; tail readers error with `reason`. Safe to call twice or after commit. */
  abort(reason: Error): void
}
