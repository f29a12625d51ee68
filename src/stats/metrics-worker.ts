/**
 * The Prometheus listener, run in its own worker thread (started by metrics-server.ts). Serving scrapes from the
 * daemon's thread put a second kind of HTTP server, socket and header shape through node:http's internals, which
 * de-optimized the data plane's hottest functions: a scrape per second cost ~10 % of 1 KiB hit throughput. Here
 * the worker only asks the daemon thread for the exposition text and relays it.
 */
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {parentPort, workerData} from 'node:worker_threads'

import type {FromMetricsWorker, MetricsWorkerData, ToMetricsWorker} from './metrics-protocol.js'

const port = parentPort
if (!port) throw new Error('metrics-worker.js runs as a worker thread')
const {host, port: listenPort, contentType} = workerData as MetricsWorkerData
const send = (m: FromMetricsWorker): void => port.postMessage(m)

let nextId = 0
/** Scrapes waiting for the daemon thread's answer, by id. */
const waiting = new Map<number, {res: http.ServerResponse; head: boolean}>()

const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?', 1)[0]
  if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404, {'content-type': 'text/plain; charset=utf-8'})
    res.end('not found\n')
    return
  }
  const id = ++nextId
  waiting.set(id, {res, head: req.method === 'HEAD'})
  send({type: 'scrape', id})
})
// Scrapers keep connections alive; don't let an idle one hold close() up.
server.keepAliveTimeout = 5000

port.on('message', (m: ToMetricsWorker) => {
  if (m.type === 'close') {
    server.close(() => port.close())
    server.closeAllConnections()
    return
  }
  const w = waiting.get(m.id)
  waiting.delete(m.id)
  if (!w) return
  if (m.type === 'text') {
    w.res.writeHead(200, {'content-type': contentType, 'content-length': Buffer.byteLength(m.text), 'cache-control': 'no-store'})
    w.res.end(w.head ? undefined : m.text)
  } else {
    w.res.writeHead(500, {'content-type': 'text/plain; charset=utf-8'})
    w.res.end(`metrics collection failed: ${m.error}\n`)
  }
})

server.once('error', (error: NodeJS.ErrnoException) => {
  send({type: 'listen-error', message: error.message, code: error.code})
  port.close()
})
server.listen(listenPort, host, () => {
  const a = server.address() as AddressInfo
  send({type: 'listening', host: a.address, port: a.port})
})
