import fs from 'node:fs/promises'
import http from 'node:http'

import {adminRouter} from '../admin/routes/index.js'
import {ConfigError, type LoadedConfig} from '../config/load.js'
import type {TavernConfig} from '../config/schema.js'
import type {HookSet} from '../core/hooks.js'
import type {OpsServices} from '../core/services.js'
import {formatRequestId} from '../proxy/context.js'
import {Pipeline} from '../proxy/handler.js'
import {createHookSet} from '../proxy/hooks.js'
import {UpstreamGroup, type UpstreamOptions} from '../proxy/origin/upstream.js'
import {purgeMethodPlugin} from '../proxy/purge-method.js'
import {LiveLog} from '../stats/live-log.js'
import {Stats} from '../stats/recorder.js'
import {Storage} from '../storage/store.js'
import {parseHostPort} from '../config/sizes.js'
import {createMetrics} from '../stats/metrics.js'
import {type MetricsServer, startMetricsServer} from '../stats/metrics-server.js'
import {AccessLog} from './access-log.js'
import {DataPlane} from './data-plane.js'
import {listenError} from './listen-error.js'
import type {Logger} from './logger.js'
import {claimSocketPath, listenOwnerOnly} from '../admin/socket-guard.js'
import {BackgroundRunner} from '../core/background.js'
import {ADMIN_MAX_CONNECTIONS, derivedMaxConnections, openFileLimit, supportedConnections} from './fd-budget.js'
import {type Faults, withRequestFaults} from './fault.js'

/** After the shutdown deadline, cut fills get this long to fail and remove their temp files before storage closes. */
const FILL_ABORT_GRACE_MS = 1500

export interface DaemonOptions {
  loaded: LoadedConfig
  socketPath: string
  log: Logger
  /** Re-read the config (same file and flag overrides); used by reload. */
  reloadConfig: () => Promise<LoadedConfig>
  /** The socket is the default path: its directory must be ours alone (socket-guard.ts). */
  socketIsDefault?: boolean
  /** Test-only fault injection (TAVERN_FAULT). */
  faults?: Faults
  /** Told when a reload (SIGHUP or POST /reload) starts and how it ended (serve tells systemd). */
  onReload?: (event: {phase: 'start'} | {phase: 'applied'} | {phase: 'refused'; problem: string}) => void
}

/** Resolves true when `p` settles within `ms`, false otherwise (p keeps running). */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const settled = p.then(
    () => true,
    () => true,
  )
  const r = await Promise.race([settled, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))])
  clearTimeout(timer)
  return r
}

/** Tear down every origin connection of a group now, responses still streaming included. */
function destroyUpstreams(group: UpstreamGroup): Promise<unknown> {
  return Promise.allSettled(group.members.map((m) => m.pool.destroy()))
}

export function upstreamOptions(c: TavernConfig): UpstreamOptions {
  return {
    connections: c.upstream.connections,
    connectTimeoutMs: c.upstream.connectTimeout,
    headersTimeoutMs: c.upstream.headersTimeout,
    bodyTimeoutMs: c.upstream.bodyTimeout,
    keepAliveTimeoutMs: c.upstream.keepAliveTimeout,
    failureCooldownMs: c.upstream.failureCooldown,
    queueTimeoutMs: c.upstream.queueTimeout,
    keyShare: c.upstream.keyShare,
    keyQueue: c.upstream.keyQueue,
    // A transfer-coded body that decodes to more than the whole disk budget is a decompression bomb.
    maxDecodedBytes: c.storage.maxDiskBytes,
  }
}

/** Config keys that a reload cannot change in a running process. */
const RESTART_ONLY: Array<[string, (c: TavernConfig) => unknown]> = [
  ['listen', (c) => c.listen],
  ['socket', (c) => c.socket],
  ['storage', (c) => JSON.stringify(c.storage)],
  ['server', (c) => JSON.stringify(c.server)],
  ['metrics', (c) => c.metrics.listen],
]

/** The access log a config asks for, opened (so an unwritable path is a config error, not a silent loss). */
async function openAccessLog(c: TavernConfig, source: string | undefined): Promise<AccessLog | undefined> {
  if (!c.accessLog.enabled) return undefined
  const log = new AccessLog(c.accessLog.path, formatRequestId, c.accessLog.format)
  try {
    await log.ready()
  } catch (error) {
    await log.close().catch(() => {})
    throw new ConfigError(source ?? 'flags', [`accessLog.path: cannot open ${c.accessLog.path} for appending (${(error as Error).message})`])
  }
  return log
}

/**
 * The running daemon: wiring only. It owns the config, the upstream group, the access log and the plugin set (all
 * swapped by reload), builds the services the request path and the admin API use, and runs the listeners. Nothing
 * imports it but `serve`.
 */
export class Daemon {
  readonly startedAt = Date.now()
  readonly stats = new Stats()
  /** Finished requests for `tavern log --follow` (nothing is built while nobody follows). */
  readonly liveLog = new LiveLog()
  config: TavernConfig
  configSource: string | undefined
  upstreams: UpstreamGroup
  pipeline!: Pipeline
  dataPlane!: DataPlane
  admin!: http.Server
  listenAddress = ''
  accessLog: AccessLog | undefined
  /** Lines dropped by access logs replaced on reload (the metric counts since start). */
  private accessLogDroppedBefore = 0
  metricsServer: MetricsServer | undefined
  /** The client connection limit in force and where it came from. */
  connectionLimit = {max: 0, fdLimit: 0, fdLimitSource: 'proc' as 'proc' | 'assumed', derived: true}
  private closing: Promise<void> | undefined
  /** Upstream groups replaced by a reload, still serving requests that started before it. */
  private readonly retiredUpstreams = new Set<UpstreamGroup>()
  /** The active plugin set (built-ins and the config's plugins). */
  hooks: HookSet
  /** What the request path and the admin API see of the daemon (getters: reload swaps what they return). */
  readonly services: OpsServices

  private constructor(
    readonly opts: DaemonOptions,
    readonly storage: Storage,
    /** Every background task of this daemon runs here (caught, logged, counted). */
    readonly background: BackgroundRunner,
  ) {
    this.config = opts.loaded.config
    this.configSource = opts.loaded.filepath
    this.upstreams = new UpstreamGroup(this.config.upstreams, upstreamOptions(this.config))
    this.services = this.buildServices()
    this.hooks = createHookSet([purgeMethodPlugin(this.services)])
  }

  private buildServices(): OpsServices {
    const d = this
    return {
      get config() {
        return d.config
      },
      storage: d.storage,
      get upstreams() {
        return d.upstreams
      },
      stats: d.stats,
      get log() {
        return d.opts.log
      },
      get accessLog() {
        return d.accessLog
      },
      background: d.background,
      get hooks() {
        return d.hooks
      },
      requestTap: d.liveLog,
      liveLog: d.liveLog,
      startedAt: d.startedAt,
      get configSource() {
        return d.configSource
      },
      get listenAddress() {
        return d.listenAddress
      },
      get metricsAddress() {
        return d.metricsServer ? `${d.metricsServer.address.host}:${d.metricsServer.address.port}` : null
      },
      socketPath: d.opts.socketPath,
      upstreamHealth: () => d.upstreams.health(),
      connections: () => ({
        open: d.dataPlane.openConnections,
        max: d.connectionLimit.max,
        derived: d.connectionLimit.derived,
        fdLimit: d.connectionLimit.fdLimit,
        rejected: d.dataPlane.rejected,
        evicted: d.dataPlane.evicted,
      }),
      accessLogInfo: () => (d.accessLog ? {path: d.config.accessLog.path, dropped: d.accessLogDropped()} : null),
      reload: () => d.reload(),
    }
  }

  get log(): Logger {
    return this.opts.log
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const c = opts.loaded.config
    const background = new BackgroundRunner(opts.log)
    await claimSocketPath(opts.socketPath, {privateDir: opts.socketIsDefault})
    const storage = await Storage.open({
      dir: c.storage.dir,
      maxDiskBytes: c.storage.maxDiskBytes,
      diskHighWatermark: c.storage.diskHighWatermark,
      diskLowWatermark: c.storage.diskLowWatermark,
      maxMemoryBytes: c.storage.memoryBytes,
      memoryMaxObjectBytes: c.storage.memoryMaxObjectBytes,
      maxVariants: c.cache.maxVariants,
      evictionIntervalMs: c.storage.evictionInterval,
      gcGraceSeconds: c.storage.gcGrace / 1000,
      log: opts.log,
      background,
    })
    const d = new Daemon(opts, storage, background)
    try {
      await d.startListeners()
    } catch (error) {
      await d.upstreams.close()
      await storage.close()
      throw error
    }
    return d
  }

  private async startListeners(): Promise<void> {
    this.stats.setStorageProbe(() => this.storage.usage())
    this.stats.setUpstreamProbe(() => this.upstreams.health())
    this.accessLog = await openAccessLog(this.config, this.configSource)
    if (this.config.metrics.listen) {
      const {host, port} = parseHostPort(this.config.metrics.listen)!
      this.metricsServer = await startMetricsServer(host, port, createMetrics(this.stats, {accessLogDropped: () => this.accessLogDropped()}), (error) => this.log.error({err: error}, 'metrics listener failed')).catch((error: unknown) => {
        throw listenError(error, 'metrics', this.config.metrics.listen!)
      })
    }
    this.pipeline = new Pipeline(this.services)
    this.connectionLimit = this.resolveConnectionLimit()
    this.dataPlane = new DataPlane(withRequestFaults((req, res) => this.pipeline.handle(req, res), this.opts.faults ?? {}), this.config.server, {
      maxConnections: this.connectionLimit.max,
      onWarning: (fields, msg) => this.log.warn(fields, msg),
    })
    let addr
    try {
      addr = await this.dataPlane.listen(this.config.listen)
    } catch (error) {
      await this.metricsServer?.close()
      throw listenError(error, 'data-plane', this.config.listen)
    }
    this.listenAddress = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`
    const router = adminRouter(this.services)
    this.admin = http.createServer((req, res) => void router.handle(req, res))
    this.admin.maxConnections = ADMIN_MAX_CONNECTIONS
    try {
      await listenOwnerOnly(this.admin, this.opts.socketPath)
      // For the server's whole life (an accept error is an 'error' event; without a listener, a crash).
      this.admin.on('error', (err) => this.log.error({err}, 'admin socket listener error'))
    } catch (error) {
      await this.dataPlane.drain(0)
      await this.metricsServer?.close()
      throw listenError(error, 'admin socket', this.opts.socketPath)
    }
    this.log.info({listen: this.listenAddress, maxConnections: this.connectionLimit.max, metrics: this.metricsServer ? `${this.metricsServer.address.host}:${this.metricsServer.address.port}` : undefined, socket: this.opts.socketPath, storage: this.config.storage.dir, upstreams: this.config.upstreams.map((u) => u.url), config: this.configSource ?? 'embedded defaults'}, 'tavern ready')
  }

  /** server.maxConnections, or the value derived from the open-file limit; warns when the limit cannot back it. */
  private resolveConnectionLimit(): Daemon['connectionLimit'] {
    const c = this.config
    const {limit, source} = openFileLimit()
    const derived = c.server.maxConnections === 'auto'
    const max = derived ? derivedMaxConnections(limit, c.upstream.connections, c.upstreams.length) : (c.server.maxConnections as number)
    const supported = supportedConnections(limit, c.upstream.connections, c.upstreams.length)
    if (max > supported) {
      this.log.warn(
        {maxConnections: max, fdLimit: limit, fdLimitSource: source, supported, upstreamConnections: c.upstream.connections},
        'the open-file limit does not leave room for server.maxConnections: raise it (ulimit -n, systemd LimitNOFILE=) or lower server.maxConnections / upstream.connections',
      )
    }
    return {max, fdLimit: limit, fdLimitSource: source, derived}
  }

  /** Access log lines dropped since start (a stalled log disk), across reloads. */
  accessLogDropped(): number {
    return this.accessLogDroppedBefore + (this.accessLog?.dropped ?? 0)
  }

  /** Re-read and validate the config; apply it, or keep the running one and report why not. */
  async reload(): Promise<{applied: boolean; source: string | undefined; restartRequired: string[]}> {
    this.opts.onReload?.({phase: 'start'})
    try {
      const r = await this.applyReload()
      this.opts.onReload?.({phase: 'applied'})
      return r
    } catch (error) {
      const problems = (error as {problems?: string[]}).problems
      this.opts.onReload?.({phase: 'refused', problem: problems?.[0] ?? (error as Error).message})
      throw error
    }
  }

  private async applyReload(): Promise<{applied: boolean; source: string | undefined; restartRequired: string[]}> {
    const next = await this.opts.reloadConfig() // throws ConfigError: nothing changes
    const restartRequired = RESTART_ONLY.filter(([, f]) => f(next.config) !== f(this.config)).map(([k]) => k)
    // Everything that can fail comes first, so a failed reload leaves the running config untouched.
    const accessLogChanged = JSON.stringify(next.config.accessLog) !== JSON.stringify(this.config.accessLog)
    const newAccessLog = accessLogChanged ? await openAccessLog(next.config, next.filepath) : this.accessLog
    const oldUpstreams = this.upstreams
    this.upstreams = new UpstreamGroup(next.config.upstreams, upstreamOptions(next.config))
    if (accessLogChanged) {
      const old = this.accessLog
      this.accessLogDroppedBefore += old?.dropped ?? 0
      this.accessLog = newAccessLog
      if (old) void this.background.run('close replaced access log', () => old.close())
    }
    // Restart-only sections keep their running values so status tells the truth.
    this.config = {...next.config, listen: this.config.listen, socket: this.config.socket, storage: this.config.storage, server: this.config.server, metrics: this.config.metrics}
    this.configSource = next.filepath
    this.log.info({source: this.configSource, restartRequired}, 'config reloaded')
    // Let requests already using the old pools finish before closing them (a shutdown meanwhile destroys them).
    this.retiredUpstreams.add(oldUpstreams)
    setTimeout(() => {
      this.retiredUpstreams.delete(oldUpstreams)
      void this.background.run('close retired upstreams', () => oldUpstreams.close())
    }, this.config.upstream.bodyTimeout).unref()
    return {applied: true, source: this.configSource, restartRequired}
  }


  /**
   * Graceful stop: stop accepting, finish in-flight requests up to the deadline, then cut what remains, destroy the
   * origin connections (in-flight bodies included, so a dripping origin cannot hold the exit), flush and close LMDB,
   * remove the socket. Bounded by server.shutdownTimeout plus FILL_ABORT_GRACE_MS and a few quick closes; `serve`
   * keeps a watchdog over all of it.
   */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      const deadline = this.config.server.shutdownTimeout
      const t0 = Date.now()
      this.log.info({inFlight: this.dataPlane.activeRequests, deadlineMs: deadline}, 'shutting down')
      if (this.opts.faults?.stallShutdown) await new Promise<never>(() => {})
      const adminClosed = new Promise<void>((resolve) => this.admin.close(() => resolve()))
      this.admin.closeIdleConnections()
      const {unfinished} = await this.dataPlane.drain(deadline)
      if (unfinished) this.log.warn({unfinished}, 'deadline reached; cut unfinished requests')
      // Fills no client waits for any more may finish within what is left of the deadline; the rest are not stored.
      const fills = this.pipeline.close()
      const left = Math.max(0, deadline - (Date.now() - t0))
      const groups = [this.upstreams, ...this.retiredUpstreams]
      if (!(await within(fills, left))) {
        this.log.warn('deadline reached; unfinished cache fills are discarded')
        await Promise.all(groups.map(destroyUpstreams))
        if (!(await within(fills, FILL_ABORT_GRACE_MS))) this.log.warn({graceMs: FILL_ABORT_GRACE_MS}, 'cut cache fills did not wind down; closing storage anyway')
      }
      await this.metricsServer?.close()
      // A stalled log disk (or stdout reader) loses its last lines rather than holding the exit.
      if (this.accessLog && !(await within(this.accessLog.close(), 1000))) this.log.warn('access log did not finish writing; its last lines are lost')
      this.admin.closeAllConnections()
      await adminClosed
      // Nothing of ours should still use an origin; whatever does (a late background refresh) is cut after a second.
      for (const g of groups) if (!(await within(g.close(), 1000))) await destroyUpstreams(g)
      await this.storage.close()
      await fs.unlink(this.opts.socketPath).catch(() => {})
      this.log.info({durationMs: Date.now() - t0}, 'stopped')
    })()
    return this.closing
  }
}
