/**
 * The daemon's side of the metrics worker: starts Prometheus `/metrics` and the web dashboard from the config (both
 * in one worker thread, see src/stats/metrics-worker.ts), and applies a reload's dashboard changes.
 *
 * - `dashboard.tokenFile` is read at start and on every reload; an unusable file refuses the start (or the reload,
 *   keeping the old token) with a ConfigError naming the key.
 * - `dashboard.allowedHosts` changes apply on reload.
 * - `dashboard.enabled` / `dashboard.listen` (like `metrics.listen`) are listeners: a reload that changes them reports
 *   them in restartRequired and keeps the running ones (RESTART_ONLY_DASHBOARD).
 */
import {ConfigError} from '../config/load.js'
import type {TavernConfig} from '../config/schema.js'
import {parseHostPort} from '../config/sizes.js'
import type {OpsServices} from '../core/services.js'
import {VERSION} from '../core/version.js'
import type {Metrics} from '../stats/metrics.js'
import {type MetricsWorker, startMetricsWorker} from '../stats/metrics-server.js'
import type {DashboardSnapshot} from './snapshot.js'
import {readDashboardToken} from './token-file.js'

/** Config keys of the dashboard a reload cannot change (its listener), for the daemon's RESTART_ONLY list. */
export const RESTART_ONLY_DASHBOARD: Array<[string, (c: TavernConfig) => unknown]> = [
  ['dashboard.enabled', (c) => c.dashboard.enabled],
  ['dashboard.listen', (c) => c.dashboard.listen],
]

/** The token `dashboard.tokenFile` names (undefined without one), or a ConfigError naming the key. */
export async function loadDashboardToken(c: TavernConfig, source: string | undefined): Promise<string | undefined> {
  const file = c.dashboard.tokenFile
  if (!c.dashboard.enabled || file === undefined) return undefined
  try {
    return await readDashboardToken(file)
  } catch (error) {
    throw new ConfigError(source ?? 'flags', [`dashboard.tokenFile: ${(error as Error).message}`])
  }
}

/** What the dashboard streams: exactly what `GET /stats` answers (extra fields such as `sites` pass through). */
export function dashboardSnapshot(o: Pick<OpsServices, 'stats' | 'listenAddress'>): DashboardSnapshot {
  return {...o.stats.snapshot(), version: VERSION, pid: process.pid, listeners: [o.listenAddress]} as DashboardSnapshot
}

export interface SideListenerDeps {
  metrics: Pick<Metrics, 'render' | 'contentType'>
  services: Pick<OpsServices, 'stats' | 'listenAddress' | 'log'>
  onError: (error: Error) => void
}

/** Starts the metrics worker when metrics.listen or the dashboard asks for it; undefined when neither does. */
export async function startSideListeners(c: TavernConfig, source: string | undefined, deps: SideListenerDeps): Promise<MetricsWorker | undefined> {
  const metricsAt = c.metrics.listen ? parseHostPort(c.metrics.listen) : undefined
  const d = c.dashboard
  if (!metricsAt && !d.enabled) return undefined
  const token = await loadDashboardToken(c, source)
  const log = deps.services.log
  return startMetricsWorker({
    metrics: metricsAt ? {...metricsAt, source: deps.metrics} : undefined,
    dashboard: d.enabled ? {listen: d.listen ? parseHostPort(d.listen) : undefined, allowedHosts: d.allowedHosts, token, snapshot: () => dashboardSnapshot(deps.services)} : undefined,
    onError: deps.onError,
    onLog: (level, message) => log[level]({}, message),
  })
}

/**
 * Reads what a reload's dashboard settings need (the token file) and returns the change to apply once the reload
 * is sure to go through; throws a ConfigError (nothing applied) when the token file is unusable.
 */
export async function prepareDashboardReload(worker: MetricsWorker | undefined, running: TavernConfig, next: TavernConfig, source: string | undefined): Promise<() => void> {
  // The dashboard's listener stays as it is until a restart; only its access settings follow the new config.
  if (!worker || !running.dashboard.enabled) return () => {}
  const token = await loadDashboardToken({...next, dashboard: {...next.dashboard, enabled: true}}, source)
  const hosts = next.dashboard.allowedHosts
  return () => worker.setDashboardAuth(token, hosts)
}
