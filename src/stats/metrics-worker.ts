/**
 * The Prometheus listener and the web dashboard, run in their own worker thread (started by metrics-server.ts).
 * Serving scrapes from the daemon's thread put a second kind of HTTP server, socket and header shape through
 * node:http's internals, which de-optimized the data plane's hottest functions: a scrape per second cost ~10 % of
 * 1 KiB hit throughput. The dashboard's SSE streams, page assets and slow readers stay here for the same reason, and
 * so that a busy data plane still serves them. The worker only asks the daemon thread for the exposition text
 * (`scrape`) and for one snapshot per second while somebody watches (`snapshot`); it serialises and fans out the
 * events itself.
 */
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {type MessagePort, parentPort, workerData} from 'node:worker_threads'

import {createDashboard, type DashboardHandler} from '../dashboard/server.js'
import type {DashboardSnapshot} from '../dashboard/snapshot.js'
import type {FromMetricsWorker, ListenAddress, ListenerName, MetricsWorkerData, ToMetricsWorker} from './metrics-protocol.js'

if (!parentPort) throw new Error('metrics-worker.js runs as a worker thread')
const port: MessagePort = parentPort
const data = workerData as MetricsWorkerData
const send = (m: FromMetricsWorker): void => port.postMessage(m)

/** A snapshot the daemon thread has not answered in this long is given up (the broadcaster reports it sooner). */
const SNAPSHOT_GIVE_UP_MS = 10_000

let nextId = 0
/** Scrapes waiting for the daemon thread's answer, by id. */
const scrapes = new Map<number, {res: http.ServerResponse; head: boolean}>()
/** Dashboard snapshots waiting for the daemon thread, by id. */
const snapshots = new Map<number, {resolve: (s: DashboardSnapshot) => void; reject: (e: Error) => void; timer: NodeJS.Timeout}>()

let token = data.dashboard?.token
let allowedHosts: readonly string[] = data.dashboard?.allowedHosts ?? []

function requestSnapshot(): Promise<DashboardSnapshot> {
  const id = ++nextId
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      snapshots.delete(id)
      reject(new Error(`the daemon thread did not answer a snapshot within ${SNAPSHOT_GIVE_UP_MS} ms`))
    }, SNAPSHOT_GIVE_UP_MS)
    timer.unref()
    snapshots.set(id, {resolve, reject, timer})
    send({type: 'snapshot', id})
  })
}

const dashboard: DashboardHandler | undefined = data.dashboard
  ? createDashboard({
      getSnapshot: requestSnapshot,
      token: () => token,
      allowedHosts: () => allowedHosts,
      onError: (error) => send({type: 'log', level: 'warn', message: `dashboard: ${error.message}`}),
    })
  : undefined

function notFound(res: http.ServerResponse): void {
  res.writeHead(404, {'content-type': 'text/plain; charset=utf-8'})
  res.end('not found\n')
}

function serveMetrics(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = (req.url ?? '/').split('?', 1)[0]
  if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) return notFound(res)
  const id = ++nextId
  scrapes.set(id, {res, head: req.method === 'HEAD'})
  // A scraper that hangs up before the answer: nothing to keep.
  res.once('close', () => scrapes.delete(id))
  send({type: 'scrape', id})
}

const servers: Array<{name: ListenerName; server: http.Server; at: ListenAddress}> = []
if (data.metrics) {
  const mountDashboard = dashboard !== undefined && data.dashboard?.listen === undefined
  const server = http.createServer((req, res) => {
    if (mountDashboard && dashboard.handle(req, res)) return
    serveMetrics(req, res)
  })
  // Scrapers keep connections alive; don't let an idle one hold close() up.
  server.keepAliveTimeout = 5000
  servers.push({name: 'metrics', server, at: data.metrics})
}
if (dashboard && data.dashboard?.listen) {
  const server = http.createServer((req, res) => {
    if (dashboard.handle(req, res)) return
    if ((req.url === '/' || req.url === '') && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(308, {location: '/dashboard/', 'content-length': 0})
      res.end()
      return
    }
    notFound(res)
  })
  server.keepAliveTimeout = 5000
  servers.push({name: 'dashboard', server, at: data.dashboard.listen})
}

let closing = false
function closeAll(): void {
  if (closing) return
  closing = true
  dashboard?.close()
  for (const s of snapshots.values()) clearTimeout(s.timer)
  let open = servers.filter((s) => s.server.listening).length
  const done = (): void => {
    if (--open <= 0) port.close()
  }
  if (open === 0) return port.close()
  for (const {server} of servers) {
    if (!server.listening) continue
    server.close(done)
    server.closeAllConnections()
  }
}

port.on('message', (m: ToMetricsWorker) => {
  switch (m.type) {
    case 'close':
      return closeAll()
    case 'token':
      token = m.token
      allowedHosts = m.allowedHosts
      return
    case 'snapshot':
    case 'snapshot-error': {
      const w = snapshots.get(m.id)
      snapshots.delete(m.id)
      if (!w) return
      clearTimeout(w.timer)
      if (m.type === 'snapshot') w.resolve(m.snapshot)
      else w.reject(new Error(m.error))
      return
    }
    case 'text':
    case 'error': {
      const w = scrapes.get(m.id)
      scrapes.delete(m.id)
      if (!w || w.res.destroyed) return
      if (m.type === 'text') {
        w.res.writeHead(200, {'content-type': data.metrics!.contentType, 'content-length': Buffer.byteLength(m.text), 'cache-control': 'no-store'})
        w.res.end(w.head ? undefined : m.text)
      } else {
        w.res.writeHead(500, {'content-type': 'text/plain; charset=utf-8'})
        w.res.end(`metrics collection failed: ${m.error}\n`)
      }
    }
  }
})

function listen(name: ListenerName, server: http.Server, at: ListenAddress): Promise<ListenAddress> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => reject(Object.assign(error, {listener: name}))
    server.once('error', onError)
    server.listen(at.port, at.host, () => {
      server.off('error', onError)
      // For the server's whole life: an accept error is an 'error' event; without a listener, a crash.
      server.on('error', (error) => send({type: 'log', level: 'error', message: `${name} listener: ${error.message}`}))
      const a = server.address() as AddressInfo
      resolve({host: a.address, port: a.port})
    })
  })
}

async function start(): Promise<void> {
  let current: ListenerName = 'dashboard'
  try {
    // Assets first: a broken install fails the start, not the first browser.
    await dashboard?.ready()
    const out: {metrics?: ListenAddress; dashboard?: ListenAddress} = {}
    for (const s of servers) {
      current = s.name
      out[s.name] = await listen(s.name, s.server, s.at)
    }
    send({type: 'listening', ...out})
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    send({type: 'listen-error', listener: current, message: e.message, code: e.code})
    closeAll()
  }
}

void start()
