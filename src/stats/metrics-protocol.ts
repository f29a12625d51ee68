/** Messages between the daemon thread and the metrics worker (metrics-worker.ts). */

export interface MetricsWorkerData {
  host: string
  port: number
  contentType: string
}

/** Worker → daemon: it listens (or could not), or a scrape wants the exposition text. */
export type FromMetricsWorker =
  | {type: 'listening'; host: string; port: number}
  | {type: 'listen-error'; message: string; code: string | undefined}
  | {type: 'scrape'; id: number}

/** Daemon → worker: the text for scrape `id`, why there is none, or stop listening and exit. */
export type ToMetricsWorker = {type: 'text'; id: number; text: string} | {type: 'error'; id: number; error: string} | {type: 'close'}
