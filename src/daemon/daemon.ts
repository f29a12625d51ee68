import fs from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'

import {adminRouter} from '../admin/routes/index.js'
import {ConfigError, type LoadedConfig} from '../config/load.js'
import type {TavernConfig} from '../config/schema.js'
import type {HookSet} from '../core/hooks.js'
import type {OpsServices} from '../core/services.js'
import {formatRequestId} from '../proxy/context.js'
import {Pipeline} from '../proxy/handler.js'
import {createHookSet, type HookRegistration} from '../proxy/hooks.js'
import {UpstreamGroups} from '../proxy/origin/groups.js'
import {UpstreamGroup, type UpstreamOptions} from '../proxy/origin/upstream.js'
import {HotSetKeeper, warmOnStart} from '../proxy/refresh/warm.js'
import {purgeMethodPlugin} from '../proxy/purge-method.js'
import {LiveLog} from '../stats/live-log.js'
import {Stats} from '../stats/recorder.js'
import {Storage} from '../storage/store.js'
import {createMetrics} from '../stats/metrics.js'
import type {MetricsWorker} from '../stats/metrics-server.js'
import {prepareDashboardReload, RESTART_ONLY_DASHBOARD, startSideListeners} from '../dashboard/mount.js'
import {AccessLog} from './access-log.js'
import {DataPlaneListeners} from './listeners/data-plane-listeners.js'
import {listenShape} from '../config/listeners.js'
import {AdminTokenAuth} from '../admin/tcp-auth.js'
import {type AdminTcpListener, startAdminTcpListener} from '../admin/tcp-listener.js'
import {type LoadedOriginTls, loadOriginTls, originConnectFactory} from '../proxy/origin/origin-tls.js'
import {ForwardOrigins, forwardUpstreamOptions, loadForwardTls} from '../proxy/origin/forward-origins.js'
import {certificateStatus, registerTlsMetrics} from '../tls/expiry.js'
import {listenError} from './listen-error.js'
import {MetricsListenError} from '../stats/metrics-server.js'
import type {Logger} from './logger.js'
import {claimSocketPath, listenOwnerOnly} from '../admin/socket-guard.js'
import {BackgroundRunner} from '../core/background.js'
import {ADMIN_MAX_CONNECTIONS, derivedMaxConnections, openFileLimit, supportedConnections} from './fd-budget.js'
import {type Faults, withRequestFaults} from './fault.js'
import {PluginSetHandover} from '../plugins/handover.js'
import {closeRegistrations, loadPluginRegistrations} from '../plugins/loader.js'
import {resilienceOf} from '../config/resilience.js'
import {registerResilienceMetrics} from '../proxy/origin/resilience-metrics.js'
import {TrafficControl} from '../traffic/traffic-control.js'
import {ClusterNode} from '../cluster/node.js'
import {clusterTrafficFeed} from '../admin/cluster-traffic.js'
import {registerClusterMetrics} from '../cluster/metrics.js'

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

function hostPortOf(a: {host: string; port: number} | undefined): string | undefined {
  return a ? `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : undefined
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

export function upstreamOptions(c: TavernConfig, originTls?: LoadedOriginTls, log?: Logger): UpstreamOptions {
  return {
    originConnect: originConnectFactory('upstream', originTls, {http2: c.upstream.http2, connectTimeoutMs: c.upstream.connectTimeout, log}),
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
    resilience: resilienceOf(c.upstream),
  }
}

/** Config keys that a reload cannot change in a running process. */
const RESTART_ONLY: Array<[string, (c: TavernConfig) => unknown]> = [
  // Addresses and protocols; a listener's certificate files may change on reload (re-read, not restarted).
  ['listen', (c) => listenShape(c.listen)],
  ['tls', (c) => JSON.stringify(c.tls)],
  ['http2', (c) => JSON.stringify(c.http2)],
  ['admin', (c) => JSON.stringify(c.admin)],
  ['socket', (c) => c.socket],
  ['storage', (c) => JSON.stringify(c.storage)],
  ['server', (c) => JSON.stringify(c.server)],
  ['metrics', (c) => c.metrics.listen],
  ...RESTART_ONLY_DASHBOARD,
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
  /** Every upstream group (default + upstreamGroups); `upstreams` is its default one. */
  groups: UpstreamGroups
  /** Forward-proxy destinations (forwardProxy): one group per destination, made on demand; swapped by reload. */
  forward: ForwardOrigins
  pipeline!: Pipeline
  dataPlane!: DataPlaneListeners
  admin!: http.Server
  /** The admin API over TCP (admin.listen) and its token. */
  adminTcp: AdminTcpListener | undefined
  adminAuth: AdminTokenAuth | undefined
  listenAddress = ''
  accessLog: AccessLog | undefined
  /** Lines dropped by access logs replaced on reload (the metric counts since start). */
  private accessLogDroppedBefore = 0
  /** Prometheus /metrics and the web dashboard (one worker thread), when configured. */
  metricsServer: MetricsWorker | undefined
  /** The client connection limit in force and where it came from. */
  connectionLimit = {max: 0, fdLimit: 0, fdLimitSource: 'proc' as 'proc' | 'assumed', derived: true}
  private closing: Promise<void> | undefined
  /** Upstream groups replaced by a reload, still serving requests that started before it. */
  private readonly retiredUpstreams = new Set<UpstreamGroup>()
  private readonly retiredForward = new Set<ForwardOrigins>()
  /** The active plugin set (built-ins and the config's plugins); a reload hands over to a new one. */
  private readonly plugins: PluginSetHandover
  /** Rate limits (rateLimits): swapped by a reload that changes them. */
  traffic: TrafficControl
  /** This node's part in a cluster (`cluster`): swapped by a reload that changes it. */
  cluster: ClusterNode | undefined
  /** What the request path and the admin API see of the daemon (getters: reload swaps what they return). */
  readonly services: OpsServices
  /** The persisted hot set (warming, prefetch --hot, purge --rewarm). */
  readonly hot: HotSetKeeper

  private constructor(
    readonly opts: DaemonOptions,
    readonly storage: Storage,
    /** Every background task of this daemon runs here (caught, logged, counted). */
    readonly background: BackgroundRunner,
    pluginRegs: readonly HookRegistration[],
    traffic: TrafficControl,
    originTls: LoadedOriginTls | undefined,
    forwardTls: LoadedOriginTls | undefined,
    cluster: ClusterNode | undefined,
  ) {
    this.config = opts.loaded.config
    this.configSource = opts.loaded.filepath
    this.traffic = traffic
    this.cluster = cluster
    this.groups = this.buildGroups(this.config, originTls)
    this.forward = this.buildForward(this.config, forwardTls)
    this.upstreams = this.groups.main
    if (Object.keys(this.config.cache.sites).length > 0) opts.log.warn('cache.sites is deprecated: move each entry into sites (sites.NAME: {hosts: [HOST], cache: {query, ignoreParams}}); README "Sites, routes and cache policy"')
    this.hot = new HotSetKeeper(storage.hotSet, this.stats, () => this.config.warm, background)
    this.services = this.buildServices()
    this.plugins = new PluginSetHandover(this.pluginSet(pluginRegs), (err, set) => this.log.warn({err, plugins: set.plugins}, 'closing a replaced plugin set failed'))
  }

  /** The upstream groups of `c` (their health checks start at once; they log state changes). */
  private buildGroups(c: TavernConfig, originTls: LoadedOriginTls | undefined): UpstreamGroups {
    return UpstreamGroups.build(c, (targets, gc, name) => new UpstreamGroup([...targets], upstreamOptions(gc, originTls, this.opts.log), {name, background: this.background, log: this.opts.log}))
  }

  /** The forward-proxy destinations of `c` (none are made until a forward request asks for one). */
  private buildForward(c: TavernConfig, tls: LoadedOriginTls | undefined): ForwardOrigins {
    const base = upstreamOptions(c, undefined, this.opts.log)
    const options = forwardUpstreamOptions(base, c.forwardProxy, tls, this.opts.log)
    return new ForwardOrigins({
      make: (origin, name) => new UpstreamGroup([{url: origin, weight: 1}], options, {name: `forward ${name}`, background: this.background, log: this.opts.log}),
      maxDestinations: c.forwardProxy.maxDestinations,
      idleTimeoutMs: c.forwardProxy.idleTimeout,
      background: this.background,
    })
  }

  /**
   * Built-ins first (PURGE, peer routing, rate limits), then the config's plugins (loaded and known to compile).
   * Peer routing comes before rate limits: a request a peer forwarded was limited where it came in.
   */
  private pluginSet(regs: readonly HookRegistration[]): HookSet {
    return createHookSet([purgeMethodPlugin(this.services), ...(this.cluster?.registrations() ?? []), ...this.traffic.registrations(), ...regs])
  }

  get hooks(): HookSet {
    return this.plugins.current
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
      upstreamGroup: (name) => d.groups.get(name),
      forwardOrigin: (origin) => d.forward.origin(origin),
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
        return hostPortOf(d.metricsServer?.metricsAddress) ?? null
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
      dataPlane: () => ({
        listeners: d.dataPlane.bound.map(({address, scheme, http2}) => ({address, scheme, http2})),
        adminTcp: d.adminTcp?.address ?? null,
        certificates: certificateStatus(d.dataPlane.certificates(), d.config.tls.expiryWarning),
        tlsHandshakeFailures: d.dataPlane.handshakeFailures,
        http2Floods: d.dataPlane.floods(),
      }),
      reload: () => d.reload(),
      clusterStatus: () => d.cluster?.status(),
      clusterTraffic: clusterTrafficFeed(() => d.cluster),
      hot: d.hot,
      refreshInfo: (key, variant) => d.pipeline?.refresher.infoFor(key, variant),
    }
  }

  get log(): Logger {
    return this.opts.log
  }

  /** Relative certificate and token paths resolve from the config file's directory. */
  get baseDir(): string {
    return this.configSource ? path.dirname(this.configSource) : process.cwd()
  }

  /** The origin TLS files of a config (read and checked; OriginTlsError → the config is refused). */
  private static async originTls(loaded: LoadedConfig): Promise<LoadedOriginTls | undefined> {
    const c = loaded.config
    try {
      return await loadOriginTls(c.upstream.tls, {http2: c.upstream.http2, urls: c.upstreams.map((u) => u.url), baseDir: loaded.filepath ? path.dirname(loaded.filepath) : undefined})
    } catch (error) {
      throw new ConfigError(loaded.filepath ?? 'flags', [`upstream.${(error as Error).message}`])
    }
  }

  /** forwardProxy.tls's CA files (read and checked; a bad one refuses the config, naming the key). */
  private static async forwardTls(loaded: LoadedConfig): Promise<LoadedOriginTls | undefined> {
    const fp = loaded.config.forwardProxy
    if (!fp.enabled) return undefined
    try {
      return await loadForwardTls(fp.tls, loaded.filepath ? path.dirname(loaded.filepath) : undefined)
    } catch (error) {
      throw new ConfigError(loaded.filepath ?? 'flags', [(error as Error).message])
    }
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const c = opts.loaded.config
    const background = new BackgroundRunner(opts.log)
    // Plugins load (and their options validate) before anything is claimed: a bad plugin is a config error.
    const pluginRegs = await loadPluginRegistrations(opts.loaded, opts.log)
    let originTls: LoadedOriginTls | undefined
    let forwardTls: LoadedOriginTls | undefined
    try {
      await claimSocketPath(opts.socketPath, {privateDir: opts.socketIsDefault})
      originTls = await Daemon.originTls(opts.loaded)
      forwardTls = await Daemon.forwardTls(opts.loaded)
    } catch (error) {
      await closeRegistrations(pluginRegs)
      throw error
    }
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
    }).catch(async (error: unknown) => {
      await closeRegistrations(pluginRegs)
      throw error
    })
    const traffic = await TrafficControl.create(c.rateLimits, opts.log).catch(async (error: unknown) => {
      await closeRegistrations(pluginRegs)
      await storage.close()
      throw error
    })
    const cluster = c.cluster ? await ClusterNode.start(c, {background, log: opts.log}) : undefined
    const d = new Daemon(opts, storage, background, pluginRegs, traffic, originTls, forwardTls, cluster)
    try {
      await d.startListeners()
    } catch (error) {
      await d.cluster?.close()
      await d.traffic.close()
      await d.groups.close()
      await d.forward.close()
      await d.plugins.close()
      await storage.close()
      throw error
    }
    return d
  }

  private async startListeners(): Promise<void> {
    this.stats.setStorageProbe(() => this.storage.usage())
    this.stats.setUpstreamProbe(() => this.upstreams.health())
    this.accessLog = await openAccessLog(this.config, this.configSource)
    const metrics = createMetrics(this.stats, {accessLogDropped: () => this.accessLogDropped()})
    registerResilienceMetrics(metrics.registry, {groups: () => this.groups.all().map((g) => ({name: g.name, group: g.resilience})), rateLimitDecisions: () => this.traffic.decisions(), rateLimitRules: () => this.traffic.limiter.ruleDecisions()})
    registerClusterMetrics(metrics.registry, () => this.cluster)
    registerTlsMetrics(metrics.registry, () => ({certificates: this.dataPlane?.certificates() ?? [], handshakeFailures: this.dataPlane?.handshakeFailures ?? 0, floods: this.dataPlane?.floods() ?? {resets: 0, pings: 0, settings: 0}}))
    this.metricsServer = await startSideListeners(this.config, this.configSource, {metrics, services: this.services, onError: (error) => this.log.error({err: error}, 'metrics listener failed')}).catch((error: unknown) => {
      // Name the listener that failed (a taken metrics port once named the free data-plane one).
      if (!(error instanceof MetricsListenError)) throw error
      const dashboard = error.listener === 'dashboard'
      throw listenError(Object.assign(new Error(error.message), {code: error.code}), dashboard ? 'dashboard' : 'metrics', (dashboard ? this.config.dashboard.listen : this.config.metrics.listen) ?? '?')
    })
    this.pipeline = new Pipeline(this.services)
    this.connectionLimit = this.resolveConnectionLimit()
    const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.plugins.enter(res)
      this.pipeline.handle(req, res)
    }
    try {
      this.dataPlane = await DataPlaneListeners.create(this.config.listen, {
        server: this.config.server,
        http2: this.config.http2,
        tls: this.config.tls,
        maxConnections: this.connectionLimit.max,
        handler: withRequestFaults(handle, this.opts.faults ?? {}),
        baseDir: this.baseDir,
        log: this.log,
      })
      const bound = await this.dataPlane.listen()
      // The address status and the dashboard name: the plain listener when there is one.
      this.listenAddress = (bound.find((l) => l.scheme === 'http') ?? bound[0]!).address
    } catch (error) {
      await this.metricsServer?.close()
      const e = error as NodeJS.ErrnoException & {address?: string; port?: number}
      throw listenError(error, 'data-plane', e.address !== undefined && e.port !== undefined ? `${e.address}:${e.port}` : this.config.listen.map((l) => l.address).join(', '))
    }
    const router = adminRouter(this.services)
    this.admin = http.createServer((req, res) => void router.handle(req, res))
    this.admin.maxConnections = ADMIN_MAX_CONNECTIONS
    try {
      // The TCP admin listener first: a daemon answering on its socket is ready, every listener included.
      const {listen, tokenFile} = this.config.admin
      if (listen !== undefined && tokenFile !== undefined) {
        this.adminAuth = await AdminTokenAuth.open(path.resolve(this.baseDir, tokenFile))
        this.adminTcp = await startAdminTcpListener({address: listen, auth: this.adminAuth, handler: (req, res) => router.handle(req, res), log: this.log})
      }
      await listenOwnerOnly(this.admin, this.opts.socketPath)
      // For the server's whole life (an accept error is an 'error' event; without a listener, a crash).
      this.admin.on('error', (err) => this.log.error({err}, 'admin socket listener error'))
    } catch (error) {
      await this.dataPlane.drain(0)
      await this.metricsServer?.close()
      await this.adminTcp?.close()
      throw listenError(error, 'admin socket', this.opts.socketPath)
    }
    this.hot.start()
    warmOnStart(this.services, this.hot, this.config.warm)
    this.log.info({listen: this.listenAddress, listeners: this.dataPlane.bound.map((l) => `${l.scheme}://${l.address}${l.http2 ? ' (h2)' : ''}`), adminTcp: this.adminTcp?.address, certificates: this.dataPlane.certificates().map((c) => ({names: c.names, notAfter: c.notAfter})), maxConnections: this.connectionLimit.max, metrics: hostPortOf(this.metricsServer?.metricsAddress), dashboard: hostPortOf(this.metricsServer?.dashboardAddress), socket: this.opts.socketPath, storage: this.config.storage.dir, upstreams: this.config.upstreams.map((u) => u.url), config: this.configSource ?? 'embedded defaults'}, 'tavern ready')
  }

  /** server.maxConnections, or the value derived from the open-file limit; warns when the limit cannot back it. */
  private resolveConnectionLimit(): Daemon['connectionLimit'] {
    const c = this.config
    const {limit, source} = openFileLimit()
    const derived = c.server.maxConnections === 'auto'
    // Every group's members hold origin connections too (counted at the largest per-member pool, to stay on the safe side).
    const groups = Object.values(c.upstreamGroups)
    const members = c.upstreams.length + groups.reduce((n, g) => n + g.upstreams.length, 0)
    const perMember = Math.max(c.upstream.connections, ...groups.map((g) => Number(g.upstream.connections ?? c.upstream.connections)))
    const max = derived ? derivedMaxConnections(limit, perMember, members) : (c.server.maxConnections as number)
    const supported = supportedConnections(limit, perMember, members)
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
    const pluginRegs = await loadPluginRegistrations(next, this.log) // a ConfigError naming the plugin: the old set stays
    const accessLogChanged = JSON.stringify(next.config.accessLog) !== JSON.stringify(this.config.accessLog)
    const originTls = await Daemon.originTls(next)
    const forwardTls = await Daemon.forwardTls(next)
    // Certificates: each listener swaps to its complete new set, or keeps serving the current one.
    const certs = restartRequired.includes('listen') ? [] : await this.dataPlane.reloadCertificates(next.config.listen)
    const refused = certs.flatMap((r) => (r.ok ? [] : r.errors.map((e) => `listen (${r.listener}): ${e}`)))
    if (refused.length) {
      await closeRegistrations(pluginRegs)
      throw new ConfigError(next.filepath ?? 'flags', [...refused, 'the current certificates keep serving'])
    }
    for (const r of certs) if (r.ok && r.changed) this.log.info({listener: r.listener, generation: r.generation, warnings: r.warnings}, 'certificates reloaded')
    const tokenReload = await this.adminAuth?.reload()
    if (tokenReload && !tokenReload.ok) this.log.warn({error: tokenReload.error}, 'admin token file cannot be used; the current token stays')
    let applyDashboard: () => void
    let newAccessLog: AccessLog | undefined
    const oldTraffic = this.traffic
    const oldCluster = this.cluster
    const clusterChanged = oldCluster ? oldCluster.changed(next.config) : next.config.cluster !== undefined
    let newCluster: ClusterNode | undefined
    try {
      applyDashboard = await prepareDashboardReload(this.metricsServer, this.config, next.config, next.filepath)
      newAccessLog = accessLogChanged ? await openAccessLog(next.config, next.filepath) : this.accessLog
      if (clusterChanged && next.config.cluster) newCluster = await ClusterNode.start(next.config, {background: this.background, log: this.log})
      if (oldTraffic.changed(next.config.rateLimits)) this.traffic = await TrafficControl.create(next.config.rateLimits, this.log)
    } catch (error) {
      await closeRegistrations(pluginRegs)
      await newCluster?.close()
      if (newAccessLog && newAccessLog !== this.accessLog) await newAccessLog.close()
      throw error
    }
    // A changed peer list (or cluster section) applies now; forwards the old node started finish on its pools.
    if (clusterChanged) {
      this.cluster = newCluster
      if (oldCluster) void this.background.run('close replaced cluster node', () => oldCluster.close(oldCluster.config.bodyTimeout))
    }
    const oldGroups = this.groups
    this.groups = this.buildGroups(next.config, originTls)
    this.upstreams = this.groups.main
    const oldForward = this.forward
    this.forward = this.buildForward(next.config, forwardTls)
    // The retired groups' health checks stop now; their pools serve the requests still using them (closed below).
    for (const g of oldGroups.all()) void this.background.run('stop retired health checks', () => g.retire())
    if (accessLogChanged) {
      const old = this.accessLog
      this.accessLogDroppedBefore += old?.dropped ?? 0
      this.accessLog = newAccessLog
      if (old) void this.background.run('close replaced access log', () => old.close())
    }
    // Restart-only sections keep their running values so status tells the truth.
    this.config = {
      ...next.config,
      listen: restartRequired.includes('listen') ? this.config.listen : next.config.listen,
      socket: this.config.socket,
      storage: this.config.storage,
      server: this.config.server,
      metrics: this.config.metrics,
      tls: this.config.tls,
      http2: this.config.http2,
      admin: this.config.admin,
      dashboard: {...next.config.dashboard, enabled: this.config.dashboard.enabled, listen: this.config.dashboard.listen},
    }
    applyDashboard()
    this.configSource = next.filepath
    // Requests already running keep the set they arrived with (and its limiter); it is closed when they are over.
    this.plugins.swap(this.pluginSet(pluginRegs))
    if (this.traffic !== oldTraffic) void this.background.run('close replaced rate limits', () => oldTraffic.close())
    this.log.info({source: this.configSource, restartRequired, plugins: this.hooks.plugins}, 'config reloaded')
    // Let requests already using the old pools finish before closing them (a shutdown meanwhile destroys them).
    for (const g of oldGroups.all()) this.retiredUpstreams.add(g)
    this.retiredForward.add(oldForward)
    const linger = Math.max(this.config.upstream.bodyTimeout, ...Object.values(this.config.upstreamGroups).map((g) => Number(g.upstream.bodyTimeout ?? 0)))
    setTimeout(() => {
      for (const g of oldGroups.all()) this.retiredUpstreams.delete(g)
      this.retiredForward.delete(oldForward)
      void this.background.run('close retired upstreams', () => oldGroups.close())
      void this.background.run('close retired forward-proxy destinations', () => oldForward.close())
    }, linger).unref()
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
      const forwards = [this.forward, ...this.retiredForward]
      const groups = [...this.groups.all(), ...this.retiredUpstreams, ...forwards.flatMap((f) => f.groups())]
      if (!(await within(fills, left))) {
        this.log.warn('deadline reached; unfinished cache fills are discarded')
        await Promise.all(groups.map(destroyUpstreams))
        if (!(await within(fills, FILL_ABORT_GRACE_MS))) this.log.warn({graceMs: FILL_ABORT_GRACE_MS}, 'cut cache fills did not wind down; closing storage anyway')
      }
      await this.metricsServer?.close()
      if (!(await within(this.plugins.close(), 1000))) this.log.warn('plugins did not close within 1 s')
      // A stalled log disk (or stdout reader) loses its last lines rather than holding the exit.
      if (this.accessLog && !(await within(this.accessLog.close(), 1000))) this.log.warn('access log did not finish writing; its last lines are lost')
      this.admin.closeAllConnections()
      await adminClosed
      await this.adminTcp?.close()
      // Nothing of ours should still use an origin; whatever does (a late background refresh) is cut after a second.
      for (const g of groups) if (!(await within(g.close(), 1000))) await destroyUpstreams(g)
      for (const f of forwards) await within(f.close(), 1000)
      await this.hot.close().catch((err: unknown) => this.log.warn({err}, 'could not save the hot set'))
      await this.traffic.close()
      await this.cluster?.close()
      await this.storage.close()
      await fs.unlink(this.opts.socketPath).catch(() => {})
      this.log.info({durationMs: Date.now() - t0}, 'stopped')
    })()
    return this.closing
  }
}
