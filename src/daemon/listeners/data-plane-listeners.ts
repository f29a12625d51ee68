/**
 * Every data-plane listener of the daemon, built from the `listen` entries: plain HTTP/1.1, plain HTTP/1.1 + h2c,
 * TLS (HTTP/1.1 and HTTP/2 by ALPN, certificates by SNI). They share one connection limit, one request handler
 * and one drain. The daemon uses activeRequests, openConnections, maxConnections, rejected, evicted, setHandler and
 * drain, plus certificates and their reload.
 *
 *   const plane = await DataPlaneListeners.create(config.listen, {server, http2, tls, maxConnections, handler, log})
 *   const bound = await plane.listen()          // [{address: '127.0.0.1:8443', scheme: 'https', http2: true, port}]
 *   await plane.reloadCertificates()            // tavern reload / SIGHUP
 *   await plane.drain(10_000)
 */
import http from 'node:http'
import net, {type AddressInfo, type Socket} from 'node:net'
import type tls from 'node:tls'

import type {TavernConfig} from '../../config/schema.js'
import {type CertificateInfo, CertStore, type CertStoreLog, type ReloadResult} from '../../tls/cert-store.js'
import type {TlsGlobals} from '../../tls/config.js'
import {TicketKeys} from '../../tls/ticket-keys.js'
import type {Http2Limits, ListenerConfig} from '../../config/listeners.js'
import {ConnectionTracker} from './connection-tracker.js'
import {assertHttp2Defences, type FloodCounters, type FloodKind} from './h2-flood-guard.js'
import {createH2Server, type H2Engine} from './h2-server.js'
import {sniffProtocol} from './h2c-sniffer.js'
import {createHttp1Server, type RequestHandler, startTimeoutChecks} from './http1-server.js'
import {createTlsServer, type TlsServer} from './tls-listener.js'

export interface DataPlaneLog extends CertStoreLog {
  debug?(fields: Record<string, unknown>, msg: string): void
}

export interface DataPlaneDeps {
  server: Pick<TavernConfig['server'], 'keepAliveTimeout' | 'headersTimeout' | 'requestTimeout' | 'maxHeaderSize'>
  http2: Http2Limits
  tls: TlsGlobals
  maxConnections: number
  handler: RequestHandler
  /** Relative certificate paths resolve from here (the config file's directory). */
  baseDir?: string
  log?: DataPlaneLog
  /** Shared session ticket keys (worker processes get the primary's); default: one set for these listeners. */
  ticketKeys?: TicketKeys
}

export interface BoundListener {
  /** host:port actually bound (port 0 resolved). */
  address: string
  host: string
  port: number
  scheme: 'http' | 'https'
  http2: boolean
}

/** One listening socket and the engines behind it. */
class Listener {
  readonly http1: http.Server
  readonly h2: H2Engine | undefined
  readonly tls: TlsServer | undefined
  /** What listens: the TLS server, the sniffing net server, or the HTTP/1.1 server itself. */
  readonly front: net.Server
  bound: BoundListener | undefined

  constructor(
    readonly config: ListenerConfig,
    readonly store: CertStore | undefined,
    tracker: ConnectionTracker,
    deps: DataPlaneDeps,
    handler: () => RequestHandler,
    onFlood: (kind: FloodKind, fields: Record<string, unknown>) => void,
  ) {
    const warn = (fields: Record<string, unknown>, msg: string) => deps.log?.warn({...fields, listener: config.address}, msg)
    const selfListening = !config.tls && !config.http2
    this.http1 = createHttp1Server({timeouts: deps.server, scheme: config.scheme, tracker, handler, admits: selfListening, onWarning: warn})
    this.h2 = config.http2 ? createH2Server({limits: deps.http2, scheme: config.scheme, tracker, handler, requestTimeoutMs: deps.server.requestTimeout, admits: false, onFlood}) : undefined
    if (config.tls) {
      this.tls = createTlsServer({store: store!, globals: deps.tls, http1: this.http1, h2: this.h2, tracker, onWarning: warn})
      this.front = this.tls.server
    } else if (this.h2) {
      const h2 = this.h2
      let listening = false
      const front = net.createServer((socket: Socket) => {
        if (!tracker.admit(socket)) return
        sniffProtocol(socket, {http1: this.http1, h2: h2.server, timeoutMs: deps.server.headersTimeout || 60_000})
      })
      front.on('listening', () => (listening = true))
      front.on('error', (err: NodeJS.ErrnoException) => {
        if (listening) warn({err, code: err.code}, 'data-plane listener error')
      })
      this.front = front
    } else {
      this.front = this.http1
    }
  }

  async listen(): Promise<BoundListener> {
    const {host, port} = this.config
    await new Promise<void>((resolve, reject) => {
      this.front.once('error', reject)
      this.front.listen(port, host, () => {
        this.front.off('error', reject)
        resolve()
      })
    })
    // Engines fed by another server need Node's timeout checks started by hand.
    if (this.front !== this.http1) startTimeoutChecks(this.http1)
    const a = this.front.address() as AddressInfo
    const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
    this.bound = {address, host: a.address, port: a.port, scheme: this.config.scheme, http2: this.config.http2}
    return this.bound
  }

  /** Stop accepting; resolves when the listening socket is closed (connections are the tracker's). */
  stopAccepting(): Promise<void> {
    const closes: Array<Promise<void>> = []
    const close = (s: net.Server | http.Server | tls.Server) =>
      closes.push(
        new Promise<void>((resolve) => {
          try {
            s.close(() => resolve())
          } catch {
            resolve()
          }
        }),
      )
    if (this.front.listening) close(this.front)
    // The HTTP/1.1 engine of a TLS/h2c listener never listened: close() only stops its timeout checks.
    if (this.front !== this.http1) this.http1.close()
    this.h2?.server.close()
    return Promise.all(closes).then(() => undefined)
  }
}

export class DataPlaneListeners {
  private handler: RequestHandler
  private readonly tracker: ConnectionTracker
  private readonly list: Listener[]
  private readonly ownTicketKeys: TicketKeys | undefined
  private floodWarnedAt = 0

  private constructor(
    entries: readonly ListenerConfig[],
    stores: ReadonlyArray<CertStore | undefined>,
    private readonly deps: DataPlaneDeps,
    ownTicketKeys: TicketKeys | undefined,
  ) {
    this.handler = deps.handler
    this.ownTicketKeys = ownTicketKeys
    this.tracker = new ConnectionTracker({maxConnections: deps.maxConnections, onWarning: (f, m) => deps.log?.warn(f, m)})
    this.list = entries.map((e, i) => new Listener(e, stores[i], this.tracker, deps, () => this.handler, (kind, fields) => this.flood(kind, fields, e.address)))
  }

  /**
   * Check everything that can fail before a port is bound: certificates of every TLS listener (CertStoreError lists
   * each problem), nghttp2's flood defences when HTTP/2 is on.
   */
  static async create(entries: readonly ListenerConfig[], deps: DataPlaneDeps): Promise<DataPlaneListeners> {
    if (entries.some((e) => e.http2)) assertHttp2Defences()
    const own = deps.ticketKeys === undefined && entries.some((e) => e.tls) ? new TicketKeys(deps.tls.sessionTicketRotation) : undefined
    const ticketKeys = deps.ticketKeys ?? own
    const stores: Array<CertStore | undefined> = []
    try {
      for (const e of entries) {
        stores.push(
          e.tls
            ? await CertStore.open({default: {cert: e.tls.cert, key: e.tls.key}, sni: e.tls.sni}, {globals: deps.tls, ticketKeys, baseDir: deps.baseDir, label: e.address, log: deps.log})
            : undefined,
        )
      }
    } catch (error) {
      for (const s of stores) s?.close()
      own?.stop()
      throw error
    }
    own?.start()
    if (deps.tls.watch) for (const s of stores) s?.watch()
    return new DataPlaneListeners(entries, stores, deps, own)
  }

  private flood(kind: FloodKind, fields: Record<string, unknown>, listener: string): void {
    const now = Date.now()
    if (now - this.floodWarnedAt < 10_000) return
    this.floodWarnedAt = now
    this.deps.log?.warn({...fields, listener, floods: this.floods()}, `HTTP/2 session closed for a ${kind} flood (GOAWAY ENHANCE_YOUR_CALM; http2.${kind} limits)`)
  }

  /** Bind every listener; if one fails, the ones already bound are closed and the error is thrown. */
  async listen(): Promise<BoundListener[]> {
    const bound: BoundListener[] = []
    try {
      for (const l of this.list) bound.push(await l.listen())
    } catch (error) {
      await Promise.all(this.list.map((l) => l.stopAccepting()))
      this.closeStores()
      throw error
    }
    return bound
  }

  get bound(): BoundListener[] {
    return this.list.flatMap((l) => (l.bound ? [l.bound] : []))
  }

  setHandler(handler: RequestHandler): void {
    this.handler = handler
  }

  get activeRequests(): number {
    return this.tracker.activeRequests
  }

  get openConnections(): number {
    return this.tracker.openConnections
  }

  get maxConnections(): number {
    return this.tracker.maxConnections
  }

  get rejected(): number {
    return this.tracker.rejected
  }

  get evicted(): number {
    return this.tracker.evicted
  }

  /** HTTP/2 sessions closed for floods, per kind, over every listener. */
  floods(): FloodCounters {
    const out: FloodCounters = {resets: 0, pings: 0, settings: 0}
    for (const l of this.list) if (l.h2) for (const k of Object.keys(out) as FloodKind[]) out[k] += l.h2.floods[k]
    return out
  }

  /** TLS handshakes that failed, over every listener. */
  get handshakeFailures(): number {
    return this.list.reduce((n, l) => n + (l.tls?.handshakeFailures ?? 0), 0)
  }

  /** Every certificate served, per TLS listener (status, metrics). */
  certificates(): CertificateInfo[] {
    return this.list.flatMap((l) => l.store?.certificates() ?? [])
  }

  /**
   * Re-read every TLS listener's certificates (`entries`: a reloaded config's listen list, matched by address, may
   * name other files). Each listener swaps atomically or keeps its current set; the results say which.
   */
  async reloadCertificates(entries?: readonly ListenerConfig[]): Promise<Array<{listener: string} & ReloadResult>> {
    const out: Array<{listener: string} & ReloadResult> = []
    for (const l of this.list) {
      if (!l.store) continue
      const next = entries?.find((e) => e.address === l.config.address)?.tls
      const r = await l.store.reload(next ? {default: {cert: next.cert, key: next.key}, sni: next.sni} : undefined)
      out.push({listener: l.config.address, ...r})
    }
    return out
  }

  private closeStores(): void {
    for (const l of this.list) l.store?.close()
    this.ownTicketKeys?.stop()
  }

  /** Stop accepting, let in-flight requests finish until the deadline (HTTP/2: GOAWAY at once), then cut what remains. */
  async drain(deadlineMs: number): Promise<{unfinished: number}> {
    const stopped = Promise.all(this.list.map((l) => l.stopAccepting()))
    this.tracker.beginDrain()
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deadlineMs)
    })
    const r = await Promise.race([this.tracker.whenIdle(), timedOut])
    clearTimeout(timer)
    const unfinished = r === 'timeout' ? this.tracker.activeRequests : 0
    this.tracker.destroyAll()
    await stopped
    this.closeStores()
    return {unfinished}
  }
}
