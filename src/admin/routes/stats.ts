import type {IncomingMessage, ServerResponse} from 'node:http'

import type {StatsSnapshot} from '../../stats/schema.js'
import type {DaemonInfo} from '../protocol.js'

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** Where the snapshots come from (the daemon's Stats). */
export interface SnapshotSource {
  snapshot(): StatsSnapshot
}

function body(stats: SnapshotSource, info: (() => DaemonInfo) | undefined): string {
  const snap = stats.snapshot()
  return JSON.stringify(info ? {...snap, ...info()} : snap)
}

/** `GET /stats`: one JSON snapshot. `info` supplies version/pid/listeners (the daemon owns those). */
export function statsSnapshotHandler(stats: SnapshotSource, info?: () => DaemonInfo): Handler {
  return (_req, res) => {
    const payload = body(stats, info)
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      'cache-control': 'no-store',
    })
    res.end(payload)
  }
}

/**
 * `GET /stats/stream`: one JSON snapshot per line (NDJSON), the first at once, then every `intervalMs`,
 * until the client goes away. A client that does not read is skipped rather than buffered for.
 */
export function statsStreamHandler(stats: SnapshotSource, intervalMs = 1000, info?: () => DaemonInfo): Handler {
  return (_req, res) => {
    res.writeHead(200, {'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-accel-buffering': 'no'})
    let blocked = false
    const push = (): void => {
      if (blocked || res.destroyed || res.writableEnded) return
      if (!res.write(`${body(stats, info)}\n`)) blocked = true
    }
    const onDrain = (): void => {
      blocked = false
    }
    const timer = setInterval(push, intervalMs > 0 ? intervalMs : 1000)
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
