/**
 * The in-memory state of one partial object and of the slice fetches that fill it (what registry.ts,
 * slice-fetch.ts, slice-reader.ts and whole-fill.ts share).
 */
import type {FileHandle} from 'node:fs/promises'

import type {StoredPolicy} from '../../cache/policy-types.js'
import {sliceCount} from '../../storage/partial-slices.js'
import type {FillWriter, ObjectRecord, PartialHeadUpdate, PartialRecord} from '../../storage/types.js'
import type {RawHeaders} from '../../util/raw-headers.js'
import type {UpstreamError, UpstreamResponse} from '../origin/upstream.js'

/** What is known about the representation a partial object holds (the descriptive part of its PartialRecord). */
export type Info = Pick<PartialRecord, 'url' | 'statusText' | 'headers' | 'requestTime' | 'responseTime' | 'policy' | 'vary' | 'size' | 'sliceSize'>

/** The whole representation being filled because the origin answered a range request with a 200. */
export interface WholeFill {
  storedHeaders: RawHeaders
  policy: StoredPolicy
  responseTime: number
  contentLength: number | undefined
  writer: FillWriter
  done: Promise<ObjectRecord | null>
}

/** What a slice fetch's response turned out to mean for the requests waiting on it. */
export type FetchHead =
  | {kind: 'ok'}
  /** The object changed (new validator, or the origin sent the whole body): start the request over. */
  | {kind: 'restart'}
  /** Not usable for partial caching (no strong validator, Vary mismatch, odd answer): the pipeline fetches it whole. */
  | {kind: 'fallback'}
  /** Not cacheable as a partial (not storable, too large, another 2xx): forward the client's request as it is. */
  | {kind: 'bypass'; detail: string}
  /**
   * An answer that does not depend on Range (3xx, 4xx, 5xx): it is the answer to the client's request. One request
   * relays it (`take` gives the response once); any other request waiting on the fetch forwards its own request.
   */
  | {kind: 'relay'; status: number; take: () => UpstreamResponse | undefined}
  | {kind: 'unsatisfiable'; size: number}
  | {kind: 'error'; error: UpstreamError}

/** One origin request for a run of slices [first, last] (last unknown until the head for an open-ended probe). */
export class SliceFetch {
  readonly head: Promise<FetchHead>
  resolveHead!: (h: FetchHead) => void
  settled = false
  /** Inclusive byte range actually being written (set from the response head). */
  end = -1
  /** Absolute offset up to which bytes are written (exclusive). */
  written: number
  finished = false
  body: UpstreamResponse['body'] | undefined
  private readonly waiters = new Set<() => void>()

  constructor(
    readonly sliceSize: number,
    readonly first: number,
    public last: number | undefined,
    readonly start: number,
    readonly reqEnd: number | undefined,
  ) {
    this.written = start
    this.head = new Promise((resolve) => {
      this.resolveHead = (h) => {
        if (this.settled) return
        this.settled = true
        resolve(h)
      }
    })
  }

  onProgress(fn: () => void): () => void {
    this.waiters.add(fn)
    return () => this.waiters.delete(fn)
  }

  notify(): void {
    if (this.waiters.size === 0) return
    const ws = [...this.waiters]
    this.waiters.clear()
    for (const w of ws) w()
  }
}

/** In-memory state of one partial object while requests or fetches use it. */
export class PartialObject {
  refs = 0
  info?: Info
  present?: Buffer
  file?: string
  fh?: FileHandle
  fhReady?: Promise<FileHandle>
  /** The index holds a partial record for `file`. */
  persisted = false
  /** We created `file` and no index record owns it: delete it when done. */
  ownsFile = false
  retired = false
  promoting = false
  /** Cold object: the first fetch, whose head tells what the object is. */
  probe?: SliceFetch
  readonly inflight = new Map<number, SliceFetch>()
  whole?: WholeFill
  pendingSlices: number[] = []
  pendingHead?: PartialHeadUpdate
  persisting?: Promise<void>

  constructor(
    readonly ik: string,
    readonly key: string,
    readonly variant: string,
  ) {}

  get slices(): number {
    return this.info ? sliceCount(this.info.size, this.info.sliceSize) : 0
  }
}
