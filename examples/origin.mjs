#!/usr/bin/env node
// A tiny dependency-free origin server for trying Tavern out.
//
//   node examples/origin.mjs [--port 3000] [--dir ./public] [--host 127.0.0.1]
//
// Serves files from a directory (default: examples/public) with Last-Modified, a strong ETag and
// Cache-Control: public, max-age=60; answers If-None-Match / If-Modified-Since with 304, supports HEAD and a
// single byte Range. Demo endpoints:
//   /time        the current time, Cache-Control: max-age=5
//   /slow?ms=N   answers after N ms (default 1000), max-age=60
//   /nocache     Cache-Control: no-store
// Every request is logged to stdout as one line.
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))

function parseArgs(argv) {
  const opts = {port: 3000, host: '127.0.0.1', dir: path.join(here, 'public')}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const [k, inline] = a.includes('=') ? a.split(/=(.*)/s, 2) : [a, undefined]
    const val = () => inline ?? argv[++i]
    if (k === '--port' || k === '-p') opts.port = Number(val())
    else if (k === '--dir' || k === '-d') opts.dir = path.resolve(val())
    else if (k === '--host') opts.host = val()
    else if (k === '--help' || k === '-h') {
      console.log('usage: node examples/origin.mjs [--port 3000] [--dir ./public] [--host 127.0.0.1]')
      process.exit(0)
    } else {
      console.error(`unknown argument: ${a}`)
      process.exit(2)
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    console.error('--port must be 0-65535')
    process.exit(2)
  }
  return opts
}

const opts = parseArgs(process.argv.slice(2))

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
}

/** Strong ETag from size, mtime and inode-ish identity (cheap; no hashing of content). */
function etagFor(stat) {
  const h = createHash('sha1').update(`${stat.size}-${stat.mtimeMs}-${stat.ino}`).digest('base64url').slice(0, 16)
  return `"${h}"`
}

/** True when an If-None-Match list matches (weak comparison, as RFC 9110 §13.1.2 requires for GET/HEAD). */
function inmMatches(header, etag) {
  if (header.trim() === '*') return true
  const bare = (t) => t.trim().replace(/^W\//, '')
  return header.split(',').some((t) => bare(t) === bare(etag))
}

/** Parse a single "bytes=a-b" range against size; undefined = ignore, null = unsatisfiable. */
function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return undefined // multiple or malformed ranges: serve the whole thing
  let start
  let end
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0) return null
    start = Math.max(0, size - suffix)
    end = size - 1
  } else {
    start = Number(m[1])
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
    if (start > end || start >= size) return null
  }
  return {start, end}
}

function send(res, status, headers, body) {
  res.writeHead(status, {'Content-Length': body ? Buffer.byteLength(body) : 0, ...headers})
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

function serveFile(req, res, file, stat) {
  const etag = etagFor(stat)
  const lastModified = new Date(Math.floor(stat.mtimeMs / 1000) * 1000).toUTCString()
  const common = {
    ETag: etag,
    'Last-Modified': lastModified,
    'Cache-Control': 'public, max-age=60',
    'Accept-Ranges': 'bytes',
  }
  const inm = req.headers['if-none-match']
  const ims = req.headers['if-modified-since']
  const notModified = inm !== undefined ? inmMatches(inm, etag) : ims !== undefined && !Number.isNaN(Date.parse(ims)) && Math.floor(stat.mtimeMs / 1000) * 1000 <= Date.parse(ims)
  if (notModified) {
    res.writeHead(304, common)
    res.end()
    return
  }
  const type = TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream'
  let range
  const ifRange = req.headers['if-range']
  if (req.headers.range && (ifRange === undefined || ifRange === etag || ifRange === lastModified)) range = parseRange(req.headers.range, stat.size)
  if (range === null) {
    res.writeHead(416, {...common, 'Content-Range': `bytes */${stat.size}`, 'Content-Length': 0})
    res.end()
    return
  }
  if (range) {
    res.writeHead(206, {...common, 'Content-Type': type, 'Content-Range': `bytes ${range.start}-${range.end}/${stat.size}`, 'Content-Length': range.end - range.start + 1})
    if (req.method === 'HEAD') return res.end()
    fs.createReadStream(file, {start: range.start, end: range.end}).pipe(res)
    return
  }
  res.writeHead(200, {...common, 'Content-Type': type, 'Content-Length': stat.size})
  if (req.method === 'HEAD') return res.end()
  fs.createReadStream(file).pipe(res)
}

const server = http.createServer((req, res) => {
  const started = Date.now()
  res.on('finish', () => {
    console.log(`${new Date().toISOString()} ${req.socket.remoteAddress} "${req.method} ${req.url} HTTP/${req.httpVersion}" ${res.statusCode} ${Date.now() - started}ms${req.headers['if-none-match'] ? ` inm=${req.headers['if-none-match']}` : ''}`)
  })
  const url = new URL(req.url ?? '/', 'http://origin.invalid')
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, {Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8'}, 'method not allowed\n')
  }
  if (url.pathname === '/time') {
    return send(res, 200, {'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'max-age=5'}, `${new Date().toISOString()}\n`)
  }
  if (url.pathname === '/nocache') {
    return send(res, 200, {'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store'}, `not cached; generated at ${new Date().toISOString()}\n`)
  }
  if (url.pathname === '/slow') {
    const ms = Math.min(Math.max(Number(url.searchParams.get('ms') ?? 1000) || 0, 0), 120_000)
    const timer = setTimeout(() => send(res, 200, {'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'max-age=60'}, `slow response after ${ms} ms at ${new Date().toISOString()}\n`), ms)
    res.on('close', () => clearTimeout(timer))
    return
  }
  let rel
  try {
    rel = decodeURIComponent(url.pathname)
  } catch {
    return send(res, 400, {'Content-Type': 'text/plain; charset=utf-8'}, 'bad path\n')
  }
  if (rel.includes('\0')) return send(res, 400, {'Content-Type': 'text/plain; charset=utf-8'}, 'bad path\n')
  if (rel.endsWith('/')) rel += 'index.html'
  const file = path.resolve(opts.dir, '.' + path.posix.normalize(rel))
  if (file !== opts.dir && !file.startsWith(opts.dir + path.sep)) return send(res, 403, {'Content-Type': 'text/plain; charset=utf-8'}, 'forbidden\n')
  fs.stat(file, (err, stat) => {
    if (err || !stat.isFile()) return send(res, 404, {'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'max-age=10'}, 'not found\n')
    serveFile(req, res, file, stat)
  })
})

server.listen(opts.port, opts.host, () => {
  const a = server.address()
  console.log(`origin listening on http://${a.address}:${a.port} serving ${opts.dir}`)
})

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close(() => process.exit(0))
    server.closeAllConnections()
  })
}
