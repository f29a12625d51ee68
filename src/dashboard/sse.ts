/**
 * Server-Sent Events: one writer per response (`SseStream`) and a broadcaster that takes ONE snapshot per tick and
 * sends the same serialised event to every connected client (`SnapshotBroadcaster`), so ten open dashboards cost one
 * snapshot a second, not ten.
 *
 * Wire format (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 *   retry: 2000            sent once at the start: how long the browser waits before reconnecting
 *   id: 42                 the snapshot sequence number (EventSource sends it back as Last-Event-ID)
 *   event: snapshot
 *   data: {...}            one line of JSON
 *   : keep-alive           a comment when nothing else was written for a while (proxies drop idle streams)
 *   event: daemon-error    the snapshot could not be taken (data: {"message": ...}); the page shows it as stale
 *
 * A client that does not read fast enough is skipped, never buffered for: once `write()` reports a full buffer, no
 * event goes to that client until it drains (at most one event beyond the socket's high-water mark is ever queued),
 * and a client stuck that way for `maxBlockedMs` is disconnected (it reconnects and gets the current snapshot).
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

export interface SseEvent {
  id?: string
  event?: string
  data: string
}

/** One event in wire format. Multi-line data becomes several `data:` lines; CR/LF in id/event are dropped. */
export function formatSseEvent(e: SseEvent): string {
  let out = ''
  if (e.id !== undefined) out += `id: ${stripLineBreaks(e.id)}\n`
  if (e.event !== undefined) out += `event: ${stripLineBreaks(e.event)}\n`
  for (const line of e.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`
  return `${out}\n`
}

/** A comment line (ignored by EventSource). */
export function formatSseComment(text: string): string {
  return `: ${stripLineBreaks(text)}\n\n`
}

function stripLineBreaks(s: string): string {
  // An id containing NUL is ignored by the browser; CR/LF would end the field early.
  return s.replace(/[\r\n\0]/g, '')
}

/**
 * The id the client last saw: the `Last-Event-ID` header EventSource sends on reconnect, or a `lastEventId` query
 * parameter (a page that had to create a new EventSource after a hard failure passes it that way).
 * Only non-negative integers count; anything else is "none".
 */
export function lastEventIdOf(req: IncomingMessage, url?: URL): number | undefined {
  const h = req.headers['last-event-id']
  const raw = (Array.isArray(h) ? h[0] : h) ?? url?.searchParams.get('lastEventId') ?? undefined
  if (raw === undefined || !/^\d{1,15}$/.test(raw.trim())) return undefined
  return Number(raw.trim())
}

export type SendResult = 'sent' | 'skipped' | 'closed'

export interface SseStreamOptions {
  /** Reconnection delay hint for the browser (`retry:`), ms. */
  retryMs?: number
  /** Extra response headers (e.g. security headers of the caller). */
  headers?: Record<string, string>
}

/** One open SSE response. */
export class SseStream {
  /** Events not sent because the client had not drained the previous one. */
  skipped = 0
  /** Last id sent to this client. */
  lastId: string | undefined
  /** ms epoch of the last write (events and comments). */
  lastWriteAt = Date.now()
  /** ms epoch since which the client has been blocked, or undefined. */
  blockedSince: number | undefined
  private closed = false
  private readonly onDrain = (): void => {
    this.blockedSince = undefined
  }

  constructor(
    readonly res: ServerResponse,
    opts: SseStreamOptions = {},
  ) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // nginx and similar buffer responses unless told otherwise; SSE must go out as written.
      'x-accel-buffering': 'no',
      ...opts.headers,
    })
    res.on('drain', this.onDrain)
    res.once('close', () => {
      this.closed = true
      res.off('drain', this.onDrain)
    })
    // The response socket is long-lived: an error on it (reset by the client) must not be unhandled.
    res.on('error', () => {})
    this.writeRaw(`retry: ${Math.max(0, Math.round(opts.retryMs ?? 2000))}\n\n`)
  }

  get isClosed(): boolean {
    return this.closed || this.res.destroyed || this.res.writableEnded
  }

  get blocked(): boolean {
    return this.blockedSince !== undefined
  }

  /** Bytes queued in the response and not yet handed to the kernel. */
  get buffered(): number {
    return this.res.writableLength
  }

  /** Sends an already formatted event unless the client is still blocked on the previous one. */
  sendFormatted(wire: string, id?: string): SendResult {
    if (this.isClosed) return 'closed'
    if (this.blocked) {
      this.skipped++
      return 'skipped'
    }
    this.writeRaw(wire)
    if (id !== undefined) this.lastId = id
    return 'sent'
  }

  send(e: SseEvent): SendResult {
    return this.sendFormatted(formatSseEvent(e), e.id)
  }

  /** A keep-alive comment; skipped (false) while blocked, since the point is only to show the stream is alive. */
  comment(text: string): boolean {
    if (this.isClosed || this.blocked) return false
    this.writeRaw(formatSseComment(text))
    return true
  }

  close(): void {
    if (this.isClosed) return
    this.res.end()
  }

  private writeRaw(s: string): void {
    this.lastWriteAt = Date.now()
    if (!this.res.write(s)) this.blockedSince ??= Date.now()
  }
}

export interface SnapshotBroadcasterOptions<T> {
  getSnapshot: () => Promise<T> | T
  /** Snapshot period, ms (default 1000: the statistics have one-second resolution). */
  intervalMs?: number
  /** A comment goes to a client that has had nothing for this long, ms (default 15000). */
  heartbeatMs?: number
  /** `retry:` hint, ms (default 2000). */
  retryMs?: number
  /** A snapshot that takes longer than this is reported as a `daemon-error` event, ms (default 5000). */
  snapshotTimeoutMs?: number
  /** Open streams at most; more are answered 503 (default 16). */
  maxClients?: number
  /** A client that stays blocked this long is disconnected, ms (default 30000). */
  maxBlockedMs?: number
  /** Event name of snapshots (default `snapshot`). */
  eventName?: string
  /** Extra headers on the stream response (e.g. security headers). */
  headers?: Record<string, string>
  /** Hears of snapshot failures (for the log); the clients hear of them as `daemon-error` events. */
  onError?: (error: Error) => void
}

export interface BroadcasterStats {
  clients: number
  /** Whether the ticker runs (only while somebody is connected). */
  ticking: boolean
  /** Sequence number of the last snapshot published (0 before the first). */
  seq: number
  /** Snapshots taken. */
  snapshots: number
  /** Failed or timed-out snapshots. */
  errors: number
  /** Events skipped for slow clients, over all clients ever connected. */
  skipped: number
  /** Clients disconnected for staying blocked. */
  dropped: number
  /** Per open client: blocked or not, skipped events, bytes queued. */
  perClient: Array<{blocked: boolean; skipped: number; buffered: number; lastId: string | undefined}>
}

/**
 * Streams one snapshot per tick to every client. The ticker runs only while somebody is connected; the first client
 * (or any client after a pause) gets a snapshot at once, and a reconnecting client gets the current one at once
 * unless its Last-Event-ID says it already has it.
 */
export class SnapshotBroadcaster<T> {
  private readonly clients = new Set<SseStream>()
  private readonly getSnapshot: () => Promise<T> | T
  private readonly intervalMs: number
  private readonly heartbeatMs: number
  private readonly retryMs: number
  private readonly snapshotTimeoutMs: number
  private readonly maxClients: number
  private readonly maxBlockedMs: number
  private readonly eventName: string
  private readonly headers: Record<string, string>
  private readonly onError: (error: Error) => void

  private seq = 0
  private snapshots = 0
  private errors = 0
  private skippedGone = 0
  private dropped = 0
  /** The last published event, wire format, while it is current (the ticker is running). */
  private current: {seq: number; wire: string} | undefined
  private ticker: NodeJS.Timeout | undefined
  private heartbeat: NodeJS.Timeout | undefined
  /** The snapshot call being waited for (see tick). */
  private inFlight: Promise<void> | undefined
  private closed = false

  constructor(opts: SnapshotBroadcasterOptions<T>) {
    this.getSnapshot = opts.getSnapshot
    this.intervalMs = positive(opts.intervalMs, 1000)
    this.heartbeatMs = positive(opts.heartbeatMs, 15_000)
    this.retryMs = positive(opts.retryMs, 2000)
    this.snapshotTimeoutMs = positive(opts.snapshotTimeoutMs, 5000)
    this.maxClients = positive(opts.maxClients, 16)
    this.maxBlockedMs = positive(opts.maxBlockedMs, 30_000)
    this.eventName = opts.eventName ?? 'snapshot'
    this.headers = opts.headers ?? {}
    this.onError = opts.onError ?? (() => {})
  }

  /** Attaches `res` as a client. The caller has checked method and authorisation. */
  attach(req: IncomingMessage, res: ServerResponse, url?: URL): void {
    if (this.closed || this.clients.size >= this.maxClients) {
      const body = JSON.stringify({
        error: {code: 'TAVERN_ERR_DASHBOARD_BUSY', message: this.closed ? 'the dashboard is shutting down' : `at most ${this.maxClients} dashboard streams at once`},
      })
      res.writeHead(503, {...this.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'retry-after': '5', 'cache-control': 'no-store'})
      res.end(body)
      return
    }
    const lastSeen = lastEventIdOf(req, url)
    const client = new SseStream(res, {retryMs: this.retryMs, headers: this.headers})
    this.clients.add(client)
    res.once('close', () => {
      this.skippedGone += client.skipped
      this.clients.delete(client)
      if (this.clients.size === 0) this.stopTimers()
    })
    if (this.ticker === undefined) {
      // Nobody was watching: whatever we had is old. Start over with a fresh snapshot, which reaches this client.
      this.current = undefined
      this.startTimers()
      this.tick()
      return
    }
    if (this.current && this.current.seq !== lastSeen) client.sendFormatted(this.current.wire, String(this.current.seq))
    else if (!this.current) client.comment('waiting for the first snapshot')
  }

  /** Takes and publishes a snapshot now (e.g. after a reload), if none is being taken. */
  publishNow(): Promise<void> {
    this.tick()
    return this.inFlight ?? Promise.resolve()
  }

  stats(): BroadcasterStats {
    let skipped = this.skippedGone
    const perClient: BroadcasterStats['perClient'] = []
    for (const c of this.clients) {
      skipped += c.skipped
      perClient.push({blocked: c.blocked, skipped: c.skipped, buffered: c.buffered, lastId: c.lastId})
    }
    return {clients: this.clients.size, ticking: this.ticker !== undefined, seq: this.seq, snapshots: this.snapshots, errors: this.errors, skipped, dropped: this.dropped, perClient}
  }

  /** Ends every stream and stops the timers; later clients get 503. */
  close(): void {
    this.closed = true
    this.stopTimers()
    for (const c of this.clients) c.close()
    this.clients.clear()
  }

  private startTimers(): void {
    this.ticker = setInterval(() => this.tick(), this.intervalMs)
    // Open sockets keep a server alive on their own; these timers must not hold a shutting-down process.
    this.ticker.unref()
    this.heartbeat = setInterval(() => this.beat(), Math.max(50, Math.floor(this.heartbeatMs / 2)))
    this.heartbeat.unref()
  }

  private stopTimers(): void {
    if (this.ticker) clearInterval(this.ticker)
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.ticker = undefined
    this.heartbeat = undefined
    this.current = undefined
  }

  /**
   * One snapshot call at a time. A call that does not settle within snapshotTimeoutMs is reported and abandoned
   * (its late answer is dropped), so a lost answer cannot stop the stream for good, while a getter that keeps
   * hanging is called at most once per timeout.
   */
  private tick(): void {
    if (this.inFlight || this.clients.size === 0) return
    this.inFlight = new Promise<void>((resolve) => {
      let finished = false
      const done = (): void => {
        finished = true
        clearTimeout(timer)
        this.inFlight = undefined
        resolve()
      }
      const timer = setTimeout(() => {
        if (finished) return
        this.fail(new Error(`no snapshot within ${this.snapshotTimeoutMs} ms`))
        done()
      }, this.snapshotTimeoutMs)
      timer.unref()
      Promise.resolve()
        .then(() => this.getSnapshot())
        .then(
          (value) => {
            if (finished) return
            let json: string
            try {
              json = JSON.stringify(value)
            } catch (error) {
              this.fail(toError(error))
              return done()
            }
            this.snapshots++
            this.publish(json)
            done()
          },
          (error: unknown) => {
            if (finished) return
            this.fail(toError(error))
            done()
          },
        )
    })
  }

  private publish(json: string): void {
    if (this.closed) return
    const seq = ++this.seq
    const id = String(seq)
    const wire = formatSseEvent({id, event: this.eventName, data: json})
    this.current = this.ticker === undefined ? undefined : {seq, wire}
    for (const c of this.clients) c.sendFormatted(wire, id)
    this.dropStuck()
  }

  private fail(error: Error): void {
    this.errors++
    this.onError(error)
    const wire = formatSseEvent({event: 'daemon-error', data: JSON.stringify({message: error.message, at: Date.now()})})
    for (const c of this.clients) c.sendFormatted(wire)
  }

  private beat(): void {
    const now = Date.now()
    for (const c of this.clients) if (now - c.lastWriteAt >= this.heartbeatMs) c.comment('keep-alive')
    this.dropStuck()
  }

  private dropStuck(): void {
    const now = Date.now()
    for (const c of this.clients) {
      if (c.blockedSince !== undefined && now - c.blockedSince >= this.maxBlockedMs) {
        this.dropped++
        // Its buffer will not drain: end() would wait behind it, so cut the connection. It stops counting as a
        // client now, not when the socket's 'close' comes round.
        this.clients.delete(c)
        c.res.destroy()
      }
    }
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}

function positive(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : fallback
}
