import http from 'node:http'
import type {AddressInfo} from 'node:net'

import type {Metrics} from './metrics.js'

export interface MetricsServer {
  close(): Promise<void>
  /** Where it actually listens (port resolved when 0 was asked for). */
  address: {host: string; port: number}
}

/** A separate node:http listener for Prometheus: `GET /metrics`, 404 for anything else. */
export async function startMetricsServer(host: string, port: number, metrics: Pick<Metrics, 'render' | 'contentType'>): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, {'content-type': 'text/plain; charset=utf-8'})
      res.end('not found\n')
      return
    }
    metrics.render().then(
      (text) => {
        res.writeHead(200, {'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store'})
        res.end(req.method === 'HEAD' ? undefined : text)
      },
      (error: unknown) => {
        res.writeHead(500, {'content-type': 'text/plain; charset=utf-8'})
        res.end(`metrics collection failed: ${error instanceof Error ? error.message : String(error)}\n`)
      },
    )
  })
  // Scrapers keep connections alive; don't let an idle one hold close() up.
  server.keepAliveTimeout = 5000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address() as AddressInfo
  return {
    address: {host: addr.address, port: addr.port},
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}
