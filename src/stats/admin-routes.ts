import type {IncomingMessage, ServerResponse} from 'node:http'

import type {Stats, StatsSnapshot} from './stats.js'

/** What the daemon adds to every /stats answer (see TopSnapshot). */
export interface DaemonInfo {
  version: string
  pid: number
  /** Data-plane listeners as URLs, e.g. `http://0.0.0.0:8080`. */
  listeners: string[]
}

/** The body of `GET /stats` and of each `GET /stats/stream` line. */
export type TopSnapshot = StatsSnapshot & DaemonInfo

type Handler = (req: IncomingMessage, res: ServerResponse) => void

function body(stats: Stats, info: (() => DaemonInfo) | undefined): string {
  const snap = stats.snapshot()
  return JSON.stringify(info ? {...snap, ...info()} : snap)
}

function methodNotAllowed(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return false
  const payload = JSON.stringify({error: {code: 'method_not_allowed', message: `${req.method ?? '?'} not allowed; use GET`}})
  res.writeHead(405, {allow: 'GET, HEAD', 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)})
  res.end(payload)
  return true
}

/** `GET /stats`: one JSON snapshot. `info` supplies version/pid/listeners (the daemon owns those). */
export function statsSnapshotHandler(stats: Stats, info?: () => DaemonInfo): Handler {
  return (req, res) => {
    if (methodNotAllowed(req, res)) return
    const payload = body(stats, info)
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      'cache-control': 'no-store',
    })
    res.end(req.method === 'HEAD' ? undefined : payload)
  }
}

/**
 * `GET /stats/stream`: one JSON snapshot per line (NDJSON), the first at once, then every `intervalMs`,
 * until the client goes away. A client that does not read is skipped rather than buffered for.
 * `(stats, info)` is accepted too (interval 1000 ms).
 */
export function statsStreamHandler(stats: Stats, intervalMs?: number, info?: () => DaemonInfo): Handler
export function statsStreamHandler(stats: Stats, info: () => DaemonInfo): Handler
export function statsStreamHandler(stats: Stats, second?: number | (() => DaemonInfo), third?: () => DaemonInfo): Handler {
  const intervalMs = typeof second === 'number' && second > 0 ? second : 1000
  const info = typeof second === 'function' ? second : third
  return (req, res) => {
    if (methodNotAllowed(req, res)) return
    res.writeHead(200, {'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-accel-buffering': 'no'})
    if (req.method === 'HEAD') {
      res.end()
      return
    }
    let blocked = false
    const push = (): void => {
      if (blocked || res.destroyed || res.writableEnded) return
      if (!res.write(`${body(stats, info)}\n`)) blocked = true
    }
    const onDrain = (): void => {
      blocked = false
    }
    const timer = setInterval(push, intervalMs)
    // The open socket keeps the process alive anyway; don't let this timer alone block shutdown.
    timer.unref()
    const stop = (): void => {
      clearInterval(timer)
      res.off('drain', onDrain)
    }
    res.on('drain', onDrain)
    // res 'close' fires when the client disconnects; req 'close' would fire as soon as the (empty) body is read.
    res.once('close', stop)
    push()
  }
}
