import {Worker} from 'node:worker_threads'

import {workerScriptUrl} from '../util/worker-url.js'
import type {Metrics} from './metrics.js'
import type {FromMetricsWorker, MetricsWorkerData, ToMetricsWorker} from './metrics-protocol.js'

export interface MetricsServer {
  close(): Promise<void>
  /** Where it actually listens (port resolved when 0 was asked for). */
  address: {host: string; port: number}
}

/**
 * A separate listener for Prometheus: `GET /metrics` (and HEAD), 404 for anything else. The HTTP side runs in a
 * worker thread (see metrics-worker.ts for why); each scrape asks this thread for `metrics.render()`.
 * `onError` hears of a worker that died after it started listening.
 */
export async function startMetricsServer(host: string, port: number, metrics: Pick<Metrics, 'render' | 'contentType'>, onError: (error: Error) => void = () => {}): Promise<MetricsServer> {
  const url = workerScriptUrl(import.meta.url, './metrics-worker.js')
  const data: MetricsWorkerData = {host, port, contentType: metrics.contentType}
  const worker = new Worker(url, {workerData: data})
  const send = (m: ToMetricsWorker): void => worker.postMessage(m)
  let closing = false
  let exited = false
  // One 'error' listener for the worker's whole life, from before it can fail: during start it fails the start,
  // afterwards it goes to onError (a gap between two listeners would be an unhandled 'error', i.e. a crash).
  let onStartError: ((error: Error) => void) | undefined
  worker.on('error', (error) => (onStartError ? onStartError(error) : onError(error)))

  const address = await new Promise<{host: string; port: number}>((resolve, reject) => {
    const onExit = (code: number): void => reject(new Error(`metrics listener on ${host}:${port}: worker exited (${code}) before listening`))
    onStartError = (error: Error): void => reject(error)
    worker.once('exit', onExit)
    const onMessage = (m: FromMetricsWorker): void => {
      if (m.type === 'scrape') return
      worker.off('message', onMessage)
      worker.off('exit', onExit)
      onStartError = undefined
      if (m.type === 'listening') resolve({host: m.host, port: m.port})
      else {
        const error: NodeJS.ErrnoException = new Error(`metrics listener on ${host}:${port}: ${m.message}`)
        error.code = m.code
        reject(error)
      }
    }
    worker.on('message', onMessage)
  })

  worker.on('message', (m: FromMetricsWorker) => {
    if (m.type !== 'scrape') return
    metrics.render().then(
      (text) => send({type: 'text', id: m.id, text}),
      (error: unknown) => send({type: 'error', id: m.id, error: error instanceof Error ? error.message : String(error)}),
    )
  })
  worker.on('exit', (code) => {
    exited = true
    if (!closing) onError(new Error(`metrics listener worker exited (${code}); /metrics is no longer served`))
  })

  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true
        if (exited) return resolve()
        worker.once('exit', () => resolve())
        send({type: 'close'})
      }),
  }
}
