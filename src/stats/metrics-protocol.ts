/**
 * Messages between the daemon thread and the metrics worker (metrics-worker.ts), which serves Prometheus `/metrics`
 * and the web dashboard (src/dashboard/) off the data plane's thread.
 */
import type {DashboardSnapshot} from '../dashboard/snapshot.js'

export interface ListenAddress {
  host: string
  port: number
}

export interface MetricsWorkerData {
  /** The Prometheus listener; absent when only the dashboard's own listener runs here. */
  metrics?: ListenAddress & {contentType: string}
  /** The web dashboard; absent when disabled. */
  dashboard?: {
    /** Its own listener; absent: mounted at /dashboard/ on the metrics listener. */
    listen?: ListenAddress
    allowedHosts: string[]
    /** The bearer token (from dashboard.tokenFile), if any. */
    token?: string
  }
}

export type ListenerName = 'metrics' | 'dashboard'

/** Worker → daemon. */
export type FromMetricsWorker =
  /** Every configured listener listens (addresses with the ports resolved). */
  | {type: 'listening'; metrics?: ListenAddress; dashboard?: ListenAddress}
  | {type: 'listen-error'; listener: ListenerName; message: string; code: string | undefined}
  /** A scrape wants the exposition text. */
  | {type: 'scrape'; id: number}
  /** The dashboard wants a snapshot (what GET /stats answers). */
  | {type: 'snapshot'; id: number}
  /** Something the daemon should log (a failed snapshot, an unreadable asset). */
  | {type: 'log'; level: 'warn' | 'error'; message: string}

/** Daemon → worker. */
export type ToMetricsWorker =
  | {type: 'text'; id: number; text: string}
  | {type: 'error'; id: number; error: string}
  | {type: 'snapshot'; id: number; snapshot: DashboardSnapshot}
  | {type: 'snapshot-error'; id: number; error: string}
  /** A reload: the new token (undefined: none) and allowed hosts. */
  | {type: 'token'; token: string | undefined; allowedHosts: string[]}
  | {type: 'close'}
