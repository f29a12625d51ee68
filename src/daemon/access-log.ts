import {write as fsWrite} from 'node:fs'
import fs from 'node:fs/promises'

import {clfTime, combinedLine} from '../util/clf.js'
import {stdoutDestination} from './logger.js'

/** Entries are gathered up to this many per formatted batch (~64 KiB of lines)... */
const BATCH_ENTRIES = 256
/** ...and never wait longer than this to reach the file. */
const FLUSH_MS = 200
/** Above this backlog of formatted, unwritten text (a stalled disk), new entries are dropped and counted. */
const MAX_BACKLOG_BYTES = 32 * 1024 * 1024

/** A JSON string literal; the HTTP parser's strings rarely need escaping, so check before paying for stringify. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/
function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`
}

function countLines(text: string): number {
  let n = 0
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++
  return n
}

/** "000" … "999": milliseconds and the fractional part of durations without number formatting. */
const PAD3: readonly string[] = Array.from({length: 1000}, (_, i) => String(i).padStart(3, '0'))

/** A duration in ms with three decimals ("12.345"), as a JSON number. */
function millis(ms: number): string {
  const us = Math.round(ms * 1000)
  return `${Math.floor(us / 1000)}.${PAD3[us % 1000]!}`
}

/** Access log line formats: one JSON object per line, or Apache/nginx "combined". */
export type AccessLogFormat = 'json' | 'combined'

/** Remembers the last string → literal pair: method, host, client and cache outcome repeat from one request to the next. */
class LiteralCache {
  private raw: string | undefined
  private lit = ''
  get(s: string): string {
    if (s !== this.raw) {
      this.raw = s
      this.lit = jsonString(s)
    }
    return this.lit
  }
}

/**
 * The access log: one JSON line per request. A request only copies its fields into preallocated columns (no
 * per-request string building or allocation); a batch of BATCH_ENTRIES, or whatever is there every FLUSH_MS, is
 * formatted in one loop and written with one asynchronous write (off the event loop). Formatting in batches is
 * what keeps the log within a few percent of the hit path: per-line JSON.stringify + a retained string per line
 * measured ~12 % of a 1 KiB hit's CPU, pino with its asynchronous destination ~6 µs per line (about the same;
 * bench/access-log-writer.mjs), this ~1.5 µs. `reopen()` is for log rotation (SIGUSR1).
 */
export class AccessLog {
  // The current batch, column by column.
  private n = 0
  /** performance.now() at the end of each request. */
  private readonly time = new Float64Array(BATCH_ENTRIES)
  private readonly status = new Int32Array(BATCH_ENTRIES)
  private readonly bytes = new Float64Array(BATCH_ENTRIES)
  private readonly duration = new Float64Array(BATCH_ENTRIES)
  /** NaN when the request did not wait for an origin. */
  private readonly upstream = new Float64Array(BATCH_ENTRIES)
  private readonly ids: Array<string | number> = new Array<string | number>(BATCH_ENTRIES).fill('')
  private readonly clients: Array<string | undefined> = new Array<string | undefined>(BATCH_ENTRIES).fill(undefined)
  private readonly methods: Array<string | undefined> = new Array<string | undefined>(BATCH_ENTRIES).fill(undefined)
  private readonly hosts: Array<string | undefined> = new Array<string | undefined>(BATCH_ENTRIES).fill(undefined)
  private readonly paths: Array<string | undefined> = new Array<string | undefined>(BATCH_ENTRIES).fill(undefined)
  private readonly caches: string[] = new Array<string>(BATCH_ENTRIES).fill('')
  private readonly agents: Array<string | undefined> = new Array<string | undefined>(BATCH_ENTRIES).fill(undefined)
  private readonly referers: Array<string | undefined> = new Array<string | undefined>(BATCH_ENTRIES).fill(undefined)
  private readonly versions: string[] = new Array<string>(BATCH_ENTRIES).fill('')

  private readonly clientLit = new LiteralCache()
  private readonly methodLit = new LiteralCache()
  private readonly hostLit = new LiteralCache()
  private readonly cacheLit = new LiteralCache()
  private readonly agentLit = new LiteralCache()
  /** The ISO time up to the seconds' dot ("2026-11-22T05:22:06."), for the second in `isoSecond`. */
  private isoSecond = Number.NaN
  private isoPrefix = ''

  /** Formatted text waiting for the file, in order. */
  private queue: string[] = []
  private queuedBytes = 0
  private writing: Promise<void> | undefined
  private file: Promise<fs.FileHandle> | undefined
  private readonly timer: NodeJS.Timeout
  dropped = 0

  /** `formatId` turns a generated request number into its id (see RequestContext.logId). */
  constructor(
    private readonly target: string,
    private readonly formatId: (n: number) => string = String,
    private readonly lineFormat: AccessLogFormat = 'json',
  ) {
    if (target !== 'stdout') this.file = this.open()
    this.timer = setInterval(() => this.flush(), FLUSH_MS).unref()
  }

  /** Resolves once the file is open; rejects (e.g. EACCES) so the daemon can refuse a log it cannot write. */
  async ready(): Promise<void> {
    await this.file
  }

  /** Append to the file, creating it (not its directory: log directories belong to the operator). */
  private open(): Promise<fs.FileHandle> {
    // Created 0640 (request lines name clients and URLs); an existing file keeps its mode and owner.
    return fs.open(this.target, 'a', 0o640)
  }

  /**
   * Log one request. Positional, so a request allocates nothing to be logged. `reqId` is the id, or a generated
   * request number that `formatId` turns into one when the batch is formatted.
   */
  record(
    reqId: string | number,
    client: string | undefined,
    method: string | undefined,
    host: string | undefined,
    path: string | undefined,
    status: number,
    bytes: number,
    durationMs: number,
    cache: string,
    upstreamMs: number | undefined,
    /** When the request ended, on the performance.now() clock (the caller has it already; Date.now() is not free). */
    endedAt: number,
    userAgent?: string,
    referer?: string,
    /** The request's HTTP version ("1.1", "2.0"), for the combined format's request line. */
    httpVersion?: string,
  ): void {
    if (this.queuedBytes > MAX_BACKLOG_BYTES) {
      this.dropped++
      return
    }
    const i = this.n
    this.time[i] = endedAt
    this.ids[i] = reqId
    this.clients[i] = client
    this.methods[i] = method
    this.hosts[i] = host
    this.paths[i] = path
    this.status[i] = status
    this.bytes[i] = bytes
    this.duration[i] = durationMs
    this.caches[i] = cache
    this.upstream[i] = upstreamMs ?? Number.NaN
    this.agents[i] = userAgent
    this.referers[i] = referer
    this.versions[i] = httpVersion ?? '1.1'
    this.n = i + 1
    if (this.n === BATCH_ENTRIES) this.flush()
  }

  /** Format the gathered entries as lines (field order is the documented one; absent fields are left out). */
  private format(): string {
    if (this.lineFormat === 'combined') return this.formatCombined()
    let out = ''
    // Monotonic → wall clock, read once per batch: entries are at most FLUSH_MS old, and a clock step between
    // batches shows up in the next one.
    const wallOffset = Date.now() - performance.now()
    for (let i = 0; i < this.n; i++) {
      const t = Math.floor(this.time[i]! + wallOffset)
      const second = Math.floor(t / 1000)
      if (second !== this.isoSecond) {
        this.isoSecond = second
        this.isoPrefix = new Date(second * 1000).toISOString().slice(0, 20)
      }
      const id = this.ids[i]!
      out += `{"time":"${this.isoPrefix}${PAD3[t - second * 1000]!}Z","reqId":${typeof id === 'number' ? `"${this.formatId(id)}"` : jsonString(id)}`
      const client = this.clients[i]
      if (client !== undefined) out += `,"client":${this.clientLit.get(client)}`
      const method = this.methods[i]
      if (method !== undefined) out += `,"method":${this.methodLit.get(method)}`
      const host = this.hosts[i]
      if (host !== undefined) out += `,"host":${this.hostLit.get(host)}`
      const path = this.paths[i]
      if (path !== undefined) out += `,"path":${jsonString(path)}`
      out += `,"status":${this.status[i]!},"bytes":${this.bytes[i]!},"durationMs":${millis(this.duration[i]!)},"cache":${this.cacheLit.get(this.caches[i]!)}`
      const up = this.upstream[i]!
      if (!Number.isNaN(up)) out += `,"upstreamMs":${millis(up)}`
      const agent = this.agents[i]
      if (agent !== undefined) out += `,"user_agent":${this.agentLit.get(agent)}`
      const referer = this.referers[i]
      out += referer === undefined ? '}\n' : `,"referer":${jsonString(referer)}}\n`
      // Drop references so logged strings (paths, client ids) are not kept alive by the columns.
      this.ids[i] = ''
      this.clients[i] = this.methods[i] = this.hosts[i] = this.paths[i] = this.agents[i] = this.referers[i] = undefined
    }
    this.n = 0
    return out
  }

  /**
   * Apache/nginx "combined": `client - - [time] "METHOD path HTTP/v" status bytes "referer" "user-agent"`, so
   * goaccess, awstats and the log pipelines that read nginx's logs read Tavern's. Time is UTC.
   */
  private formatCombined(): string {
    let out = ''
    const wallOffset = Date.now() - performance.now()
    for (let i = 0; i < this.n; i++) {
      const second = Math.floor((this.time[i]! + wallOffset) / 1000)
      if (second !== this.isoSecond) {
        this.isoSecond = second
        this.isoPrefix = clfTime(second)
      }
      out += combinedLine({client: this.clients[i], second, method: this.methods[i], path: this.paths[i], httpVersion: this.versions[i], status: this.status[i]!, bytes: this.bytes[i]!, referer: this.referers[i], userAgent: this.agents[i]}, this.isoPrefix) + '\n'
      this.ids[i] = ''
      this.clients[i] = this.methods[i] = this.hosts[i] = this.paths[i] = this.agents[i] = this.referers[i] = undefined
    }
    this.n = 0
    return out
  }

  /** Format what is gathered and start writing unless a write is already under way (it continues when done). */
  private flush(): void {
    if (this.n > 0) {
      const text = this.format()
      this.queue.push(text)
      this.queuedBytes += text.length
    }
    if (this.writing || this.queue.length === 0) return
    const chunk = this.queue.length === 1 ? this.queue[0]! : this.queue.join('')
    this.queue = []
    this.queuedBytes = 0
    this.writing = this.writeOut(chunk).finally(() => {
      this.writing = undefined
      if (this.queue.length > 0) this.flush()
    })
  }

  private async writeOut(chunk: string): Promise<void> {
    try {
      if (!this.file) {
        // The daemon log's stdout destination: lines of both never interleave, and a reader that went away stops
        // the writing instead of failing or hanging it (see log-destination.ts).
        const out = stdoutDestination()
        if (!out.write(chunk)) this.dropped += countLines(chunk)
        else await new Promise<void>((resolve) => out.flush(() => resolve()))
        return
      }
      const fh = await this.file
      // The callback API on the handle's fd: FileHandle.write's promise wrapper cost as much as a tenth of the write.
      await new Promise<void>((resolve, reject) => fsWrite(fh.fd, chunk, (error) => (error ? reject(error) : resolve())))
    } catch (error) {
      // A failing log disk must not take requests down; say so once per failure on stderr.
      process.stderr.write(`tavern: access log write failed: ${(error as Error).message}\n`)
    }
  }

  /** Reopen the file at its path (after rotation moved it). Lines gathered so far go to the old file. */
  reopen(): void {
    if (this.target === 'stdout') return
    this.flush()
    const old = this.file
    const pending = this.writing ?? Promise.resolve()
    this.file = pending.then(() => this.open())
    void pending.then(async () => (await old?.catch(() => undefined))?.close().catch(() => {}))
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    this.flush()
    while (this.writing) {
      await this.writing
      this.flush()
    }
    const fh = await this.file?.catch(() => undefined)
    await fh?.close().catch(() => {})
  }
}
