#!/usr/bin/env node
// Benchmark HTTP servers, run as a child process of bench/run.mjs (listens on 127.0.0.1 only).
//
//   node bench/origin.mjs origin   the origin behind Tavern:
//     GET /obj/<size>/<name>          cacheable (max-age=3600) body of <size> bytes
//     GET /many/<i>                   cacheable 1 KiB body (the many-keys scenario)
//     GET /nostore/<size>/<name>      same bytes with Cache-Control: no-store
//     GET /slow/<ms>/<size>/<name>    cacheable, answered after <ms> milliseconds
//     GET /big/<bytes>/<name>         cacheable, <bytes> generated on the fly and streamed with backpressure
//     GET /__stats                    {"total": n, "byPath": {...}} request counts (for collapsing)
//   node bench/origin.mjs bare      the "Node limit" reference: a bare node:http server that answers
//     /obj/<size>/<name> and /many/<i> from pre-built Buffers in a Map (same bytes and similar headers)
//
// Prints one JSON line {"ready":true,"port":N} on stdout once listening.
import http from 'node:http'

const mode = process.argv[2] ?? 'origin'
const manyKeys = Number(process.argv[3] ?? 10_000)

const LAST_MODIFIED = new Date(Date.now() - 86_400_000).toUTCString()
const bodies = new Map()
/** Deterministic body of `size` bytes (printable, so a curl of it is readable). */
function bodyOf(size) {
  let b = bodies.get(size)
  if (!b) {
    b = Buffer.allocUnsafe(size)
    for (let i = 0; i < size; i++) b[i] = 97 + ((i * 7 + (i >> 10)) % 26)
    bodies.set(size, b)
  }
  return b
}

function cacheableHeaders(size, etag) {
  return {
    'Content-Type': 'application/octet-stream',
    'Content-Length': size,
    'Cache-Control': 'public, max-age=3600',
    ETag: `"${etag}"`,
    'Last-Modified': LAST_MODIFIED,
  }
}

let total = 0
const byPath = new Map()

function origin(req, res) {
  total++
  const url = req.url ?? '/'
  byPath.set(url, (byPath.get(url) ?? 0) + 1)
  const parts = url.split('?')[0].split('/')
  switch (parts[1]) {
    case 'obj': {
      const size = Number(parts[2])
      res.writeHead(200, cacheableHeaders(size, `o${size}`))
      res.end(bodyOf(size))
      return
    }
    case 'many': {
      res.writeHead(200, cacheableHeaders(1024, `m${parts[2]}`))
      res.end(bodyOf(1024))
      return
    }
    case 'nostore': {
      const size = Number(parts[2])
      res.writeHead(200, {'Content-Type': 'application/octet-stream', 'Content-Length': size, 'Cache-Control': 'no-store'})
      res.end(bodyOf(size))
      return
    }
    case 'slow': {
      const ms = Number(parts[2])
      const size = Number(parts[3])
      setTimeout(() => {
        res.writeHead(200, cacheableHeaders(size, `s${size}`))
        res.end(bodyOf(size))
      }, ms)
      return
    }
    case 'big': {
      const size = Number(parts[2])
      const chunk = bodyOf(256 * 1024)
      res.writeHead(200, cacheableHeaders(size, `b${size}`))
      let left = size
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length)
          left -= n
          const ok = res.write(n === chunk.length ? chunk : chunk.subarray(0, n))
          if (!ok && left > 0) return void res.once('drain', pump)
        }
        res.end()
      }
      res.on('close', () => {
        left = 0
      })
      pump()
      return
    }
    case '__stats': {
      const body = JSON.stringify({total, byPath: Object.fromEntries(byPath)})
      res.writeHead(200, {'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body)})
      res.end(body)
      return
    }
    default:
      res.writeHead(404, {'Content-Length': 0, 'Cache-Control': 'no-store'})
      res.end()
  }
}

// The bare server: everything pre-built (body Buffer and header object), one Map lookup per request.
const bare = new Map()
if (mode === 'bare') {
  for (const size of [1024, 100 * 1024]) {
    bare.set(`/obj/${size}/hot`, {body: bodyOf(size), headers: cacheableHeaders(size, `o${size}`)})
  }
  for (let i = 0; i < manyKeys; i++) {
    // distinct Buffers, like a cache holding 10,000 separate objects
    bare.set(`/many/${i}`, {body: Buffer.from(bodyOf(1024)), headers: cacheableHeaders(1024, `m${i}`)})
  }
}
const NOT_FOUND = {'Content-Length': 0}
function bareHandler(req, res) {
  const e = bare.get(req.url)
  if (!e) {
    res.writeHead(404, NOT_FOUND)
    res.end()
    return
  }
  res.writeHead(200, e.headers)
  res.end(e.body)
}

const server = http.createServer({keepAliveTimeout: 5000}, mode === 'bare' ? bareHandler : origin)
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ready: true, mode, port: server.address().port}) + '\n')
})
const stop = (why) => {
  if (typeof why === 'string' && process.env.BENCH_DEBUG) process.stderr.write(`origin(${mode}) ${process.pid} stopping: ${why}\n`)
  server.close()
  server.closeAllConnections()
  process.exit(0)
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
// Never outlive the benchmark that started us: it holds our stdin open; EOF means it is gone.
process.stdin.on('end', () => stop('stdin closed'))
process.stdin.on('error', () => stop('stdin error'))
process.stdin.resume()
setTimeout(() => stop('max time'), Number(process.env.BENCH_CHILD_MAX_MS ?? 900_000)).unref()
