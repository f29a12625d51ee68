import {Worker} from 'node:worker_threads'

import type {DashboardSnapshot} from '../dashboard/snapshot.js'
import {workerScriptUrl} from '../util/worker-url.js'
import type {Metrics} from './metrics.js'
import type {FromMetricsWorker, ListenAddress, ListenerName, MetricsWorkerData, ToMetricsWorker} from './metrics-protocol.js'

export interface MetricsServer {
  close(): Promise<void>
  /** Where it actually listens (port resolved when 0 was asked for). */
  address: {host: string; port: number}
}

export interface MetricsWorkerOptions {
  /** Prometheus `GET /metrics` on HOST:PORT. */
  metrics?: ListenAddress & {source: Pick<Metrics, 'render' | 'contentType'>}
  /** The web dashboard: on its own listener, or at /dashboard/ of the metrics listener when `listen` is absent. */
  dashboard?: {
    listen?: ListenAddress
    allowedHosts: string[]
    token: string | undefined
    /** What GET /stats answers; called once per second while somebody watches. */
    snapshot: () => DashboardSnapshot
  }
  /** A worker that died after it started listening. */
  onError?: (error: Error) => void
  /** What the worker wants logged (failed snapshots, listener errors). */
  onLog?: (level: 'warn' | 'error', message: string) => void
}

export interface MetricsWorker {
  /** Where each listener listens (ports resolved). */
  metricsAddress: ListenAddress | undefined
  dashboardAddress: ListenAddress | undefined
  /** A reload: the dashboard's new token and allowed hosts. */
  setDashboardAuth(token: string | undefined, allowedHosts: string[]): void
  close(): Promise<void>
}

/** A listener of the worker could not listen; `listener` says which, `code` is the socket error's (EADDRINUSE…). */
export class MetricsListenError extends Error {
  constructor(
    readonly listener: ListenerName,
    message: string,
    readonly code: string | undefined,
  ) {
    super(message)
    this.name = 'MetricsListenError'
  }
}

/**
 * The listeners off the data plane's thread: Prometheus `GET /metrics` (and HEAD, 404 for anything else) and the web
 * dashboard. The HTTP side runs in a worker thread (see metrics-worker.ts for why); each scrape asks this thread for
 * `metrics.render()`, each dashboard tick for one snapshot (structured-cloned; the worker serialises it).
 */
export async function startMetricsWorker(opts: MetricsWorkerOptions): Promise<MetricsWorker> {
  const url = workerScriptUrl(import.meta.url, './metrics-worker.js')
  const m = opts.metrics
  const d = opts.dashboard
  const data: MetricsWorkerData = {
    metrics: m ? {host: m.host, port: m.port, contentType: m.source.contentType} : undefined,
    dashboard: d ? {listen: d.listen, allowedHosts: d.allowedHosts, token: d.token} : undefined,
  }
  const onError = opts.onError ?? (() => {})
  const onLog = opts.onLog ?? (() => {})
  const describe = (name: ListenerName): string => {
    const at = name === 'metrics' ? m : (d?.listen ?? m)
    return `${name === 'metrics' ? 'metrics' : 'dashboard'} listener on ${at ? `${at.host}:${at.port}` : '?'}`
  }
  const worker = new Worker(url, {workerData: data})
  const send = (msg: ToMetricsWorker): void => worker.postMessage(msg)
  let closing = false
  let exited = false
  // One 'error' listener for the worker's whole life, from before it can fail: during start it fails the start,
  // afterwards it goes to onError (a gap between two listeners would be an unhandled 'error', i.e. a crash).
  let onStartError: ((error: Error) => void) | undefined
  worker.on('error', (error) => (onStartError ? onStartError(error) : onError(error)))

  const addresses = await new Promise<{metrics?: ListenAddress; dashboard?: ListenAddress}>((resolve, reject) => {
    const onExit = (code: number): void => reject(new Error(`metrics worker exited (${code}) before listening`))
    onStartError = (error: Error): void => reject(error)
    worker.once('exit', onExit)
    const onMessage = (msg: FromMetricsWorker): void => {
      if (msg.type !== 'listening' && msg.type !== 'listen-error') return
      worker.off('message', onMessage)
      worker.off('exit', onExit)
      onStartError = undefined
      if (msg.type === 'listening') resolve({metrics: msg.metrics, dashboard: msg.dashboard})
      else reject(new MetricsListenError(msg.listener, `${describe(msg.listener)}: ${msg.message}`, msg.code))
    }
    worker.on('message', onMessage)
  })

  worker.on('message', (msg: FromMetricsWorker) => {
    switch (msg.type) {
      case 'scrape':
        if (!m) return send({type: 'error', id: msg.id, error: 'no metrics source'})
        m.source.render().then(
          (text) => send({type: 'text', id: msg.id, text}),
          (error: unknown) => send({type: 'error', id: msg.id, error: error instanceof Error ? error.message : String(error)}),
        )
        return
      case 'snapshot':
        try {
          if (!d) throw new Error('the dashboard is not enabled')
          send({type: 'snapshot', id: msg.id, snapshot: d.snapshot()})
        } catch (error) {
          send({type: 'snapshot-error', id: msg.id, error: error instanceof Error ? error.message : String(error)})
        }
        return
      case 'log':
        onLog(msg.level, msg.message)
    }
  })
  worker.on('exit', (code) => {
    exited = true
    if (!closing) onError(new Error(`metrics worker exited (${code}); /metrics${d ? ' and the dashboard are' : ' is'} no longer served`))
  })

  return {
    metricsAddress: addresses.metrics,
    dashboardAddress: addresses.dashboard,
    setDashboardAuth(token, allowedHosts) {
      if (!exited) send({type: 'token', token, allowedHosts})
    },
    close: () =>
      new Promise<void>((resolve) => {
        closing = true
        if (exited) return resolve()
        worker.once('exit', () => resolve())
        send({type: 'close'})
      }),
  }
}

/** Prometheus alone: `GET /metrics` on host:port (see startMetricsWorker). */
export async function startMetricsServer(host: string, port: number, metrics: Pick<Metrics, 'render' | 'contentType'>, onError: (error: Error) => void = () => {}): Promise<MetricsServer> {
  const w = await startMetricsWorker({metrics: {host, port, source: metrics}, onError})
  return {address: w.metricsAddress!, close: () => w.close()}
}
