#!/usr/bin/env node
// TLS and HTTP/2 cost, side by side (ratios, not absolute numbers: this is a shared machine):
//   - requests/s of a 1 KiB answer over reused connections: plain HTTP/1.1, HTTP/1.1 over TLS, HTTP/2 over TLS;
//   - TLS handshakes/s: full handshakes and resumed sessions (tickets), Tavern's TLS listener vs nginx (if installed).
//
//   npm run build && node bench/tls.mjs [--duration 4] [--rounds 3] [--connections 16] [--concurrency 64]
//
// The four request-rate runs are repeated in `--rounds` interleaved rounds (the order rotating each round), and each
// ratio is taken within its round, then the median (and range) over rounds is printed: on a shared machine the load
// drifts between runs seconds apart, and one pass in a fixed order turned that drift into the ratios.
//
// The server (bench/tls-server.mjs, Tavern's listener factories) and nginx run in child processes pinned to core 0
// when taskset exists, this load generator on core 1; everything is on 127.0.0.1, bounded in time, and cleaned up on
// exit (temp dir with generated certificates and nginx config, child processes).
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import http2 from 'node:http2'
import tls from 'node:tls'
import {fileURLToPath} from 'node:url'

import {Pool} from 'undici'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : def
}
const DURATION_S = Math.min(20, opt('duration', 4))
const ROUNDS = Math.max(1, Math.min(9, opt('rounds', 3)))
const CONNECTIONS = opt('connections', 16)
const CONCURRENCY = opt('concurrency', 64)
const HANDSHAKE_CONCURRENCY = opt('handshake-concurrency', 16)

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-bench-tls-'))
const children = new Set()
function cleanup() {
  // SIGTERM: nginx (and the bench server) shut down at once and leave nothing behind.
  for (const c of children) {
    try {
      c.kill('SIGTERM')
    } catch {}
  }
  fs.rmSync(tmp, {recursive: true, force: true})
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))
// Overall guard: never more than ~10 × duration + 60 s. (nginx runs with master_process off: one process, no
// orphaned workers when it is stopped.)
setTimeout(() => {
  console.error('bench/tls.mjs: time guard hit, stopping')
  process.exit(1)
}, (DURATION_S * (4 * ROUNDS + 6) + 90) * 1000).unref()

const hasTaskset = spawnSync('taskset', ['--version']).status === 0
const pinned = (cmd, argv) => (hasTaskset && os.cpus().length > 1 ? ['taskset', ['-c', '0', cmd, ...argv]] : [cmd, argv])
if (hasTaskset && os.cpus().length > 1) spawnSync('taskset', ['-cp', '1', String(process.pid)])

function openssl(...a) {
  execFileSync('openssl', a, {cwd: tmp, stdio: 'ignore'})
}
openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=bench.test', '-addext', 'subjectAltName=DNS:bench.test')
const certFile = path.join(tmp, 'cert.pem')
const keyFile = path.join(tmp, 'key.pem')
const ca = fs.readFileSync(certFile, 'utf8')

async function startTavern() {
  const listen = [{address: '127.0.0.1:0'}, {address: '127.0.0.1:0', tls: {cert: certFile, key: keyFile}}]
  const [cmd, argv] = pinned(process.execPath, [path.join(HERE, 'tls-server.mjs'), JSON.stringify(listen)])
  const child = spawn(cmd, argv, {stdio: ['ignore', 'pipe', 'inherit']})
  children.add(child)
  const line = await new Promise((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (d) => {
      buf += d
      if (buf.includes('\n')) resolve(buf.split('\n')[0])
    })
    child.once('exit', (code) => reject(new Error(`bench server exited (${code})`)))
  })
  const bound = JSON.parse(line)
  return {plain: bound[0].port, tls: bound[1].port}
}

async function startNginx() {
  const bin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p))
  if (!bin) return undefined
  const port = await new Promise((resolve) => {
    const s = tls.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => resolve(p))
    })
  })
  const conf = path.join(tmp, 'nginx.conf')
  fs.writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${tmp}/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fastcgi; uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${certFile};
    ssl_certificate_key ${keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    location / { return 200 "ok"; }
  }
}
`,
  )
  const [cmd, argv] = pinned(bin, ['-e', 'stderr', '-p', tmp, '-c', conf])
  const child = spawn(cmd, argv, {stdio: ['ignore', 'ignore', 'inherit']})
  children.add(child)
  // Ready when it accepts a handshake (bounded).
  for (let i = 0; i < 100; i++) {
    const ok = await handshakeOnce(port).then(
      () => true,
      () => false,
    )
    if (ok) return {port, child}
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('nginx did not start')
}

/** One handshake; with wantSession, also the session to resume with (TLS 1.3 tickets come just after; waited ≤ 1 s). */
function handshakeOnce(port, session, wantSession = false) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({port, host: '127.0.0.1', servername: 'bench.test', ca, session, ALPNProtocols: ['http/1.1']})
    let got
    let timer
    s.once('session', (x) => (got = x))
    s.once('secureConnect', () => {
      const reused = s.isSessionReused()
      const finish = () => {
        clearTimeout(timer)
        s.destroy()
        resolve({reused, session: got ?? s.getSession()})
      }
      if (!wantSession || got || s.getProtocol() !== 'TLSv1.3') return finish()
      timer = setTimeout(finish, 1000)
      s.once('session', (x) => ((got = x), finish()))
    })
    s.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
  })
}

async function handshakesPerSecond(port, resume) {
  const seed = resume ? (await handshakeOnce(port, undefined, true)).session : undefined
  const end = Date.now() + DURATION_S * 1000
  let n = 0
  let reused = 0
  let failed = 0
  await Promise.all(
    Array.from({length: HANDSHAKE_CONCURRENCY}, async () => {
      const session = seed
      while (Date.now() < end) {
        try {
          // Resumed runs reuse the first ticket (stateless tickets may be used again) rather than wait for new ones.
          const r = await handshakeOnce(port, resume ? session : undefined)
          n++
          if (r.reused) reused++
        } catch {
          failed++
        }
      }
    }),
  )
  return {rate: n / DURATION_S, reused, failed, n}
}

async function requestsPerSecond(url, {h2 = false} = {}) {
  const pool = new Pool(url, {connections: CONNECTIONS, pipelining: 1, allowH2: h2, connect: {ca, servername: 'bench.test'}})
  const end = Date.now() + DURATION_S * 1000
  let n = 0
  let failed = 0
  // Warm up the connections first (handshakes are not what this measures).
  await Promise.all(Array.from({length: CONNECTIONS}, () => pool.request({path: '/', method: 'GET'}).then((r) => r.body.dump())))
  await Promise.all(
    Array.from({length: CONCURRENCY}, async () => {
      while (Date.now() < end) {
        try {
          const r = await pool.request({path: '/', method: 'GET', headers: {host: 'bench.test'}})
          await r.body.dump()
          if (r.statusCode === 200) n++
          else failed++
        } catch {
          failed++
        }
      }
    }),
  )
  await pool.close()
  return {rate: n / DURATION_S, failed}
}

/** HTTP/2 with Node's client: a few sessions, many streams each (how browsers and CDNs use one connection). */
async function h2RequestsPerSecond(url) {
  const sessions = Array.from({length: Math.max(1, Math.round(CONNECTIONS / 4))}, () => {
    const s = http2.connect(url, {ca, servername: 'bench.test'})
    s.on('error', () => {})
    return s
  })
  const one = (session) =>
    new Promise((resolve) => {
      const st = session.request({':path': '/', ':authority': 'bench.test'})
      let status = 0
      st.on('response', (h) => (status = h[':status']))
      st.on('error', () => resolve(false))
      st.on('end', () => resolve(status === 200))
      st.resume()
    })
  await Promise.all(sessions.map(one))
  const end = Date.now() + DURATION_S * 1000
  let n = 0
  let failed = 0
  await Promise.all(
    Array.from({length: CONCURRENCY}, async (_, i) => {
      const session = sessions[i % sessions.length]
      while (Date.now() < end) {
        if (await one(session)) n++
        else failed++
      }
    }),
  )
  for (const s of sessions) s.close()
  return {rate: n / DURATION_S, failed}
}

const fmtRate = (x) => (x >= 100 ? Math.round(x).toString() : x.toFixed(1))
const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a')

console.log(`bench/tls: ${DURATION_S} s per run, ${CONNECTIONS} connections × ${CONCURRENCY} requests in flight, ${HANDSHAKE_CONCURRENCY} handshakes in flight; Node ${process.version}, ${os.cpus().length} cores${hasTaskset ? ', server pinned to core 0' : ''}; loadavg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
const ports = await startTavern()
const modes = {
  plain: () => requestsPerSecond(`http://127.0.0.1:${ports.plain}`),
  tlsH1: () => requestsPerSecond(`https://127.0.0.1:${ports.tls}`),
  tlsH2: () => h2RequestsPerSecond(`https://127.0.0.1:${ports.tls}`),
  tlsH2undici: () => requestsPerSecond(`https://127.0.0.1:${ports.tls}`, {h2: true}),
}
const names = Object.keys(modes)
const rounds = []
for (let r = 0; r < ROUNDS; r++) {
  const order = names.map((_, i) => names[(i + r) % names.length])
  const round = {}
  for (const name of order) round[name] = await modes[name]()
  rounds.push(round)
  console.log(`  round ${r + 1}/${ROUNDS} (${order.join(', ')}): ${names.map((n) => `${n} ${fmtRate(round[n].rate)}/s`).join('  ')}  loadavg ${os.loadavg()[0].toFixed(2)}`)
}
const med = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const rate = (name) => med(rounds.map((r) => r[name].rate))
const failed = (name) => rounds.reduce((n, r) => n + r[name].failed, 0)
const ratioOf = (name) => {
  const xs = rounds.map((r) => (r.plain.rate > 0 ? r[name].rate / r.plain.rate : NaN))
  return `${med(xs).toFixed(2)}× (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`
}
console.log(`\nrequests/s, 1 KiB answer, reused connections (Tavern listener factories); median of ${ROUNDS} rounds, ratio to plain within each round: median (min–max)`)
console.log(`  plain HTTP/1.1     ${fmtRate(rate('plain')).padStart(8)}   1.00×                failed ${failed('plain')}`)
console.log(`  HTTP/1.1 over TLS  ${fmtRate(rate('tlsH1')).padStart(8)}   ${ratioOf('tlsH1').padEnd(19)}  failed ${failed('tlsH1')}`)
console.log(`  HTTP/2 over TLS    ${fmtRate(rate('tlsH2')).padStart(8)}   ${ratioOf('tlsH2').padEnd(19)}  failed ${failed('tlsH2')}   (node:http2 client, ${Math.max(1, Math.round(CONNECTIONS / 4))} sessions)`)
console.log(`  HTTP/2, undici     ${fmtRate(rate('tlsH2undici')).padStart(8)}   ${ratioOf('tlsH2undici').padEnd(19)}  failed ${failed('tlsH2undici')}   (undici allowH2: its h2 client is the slower side)`)

const tFull = await handshakesPerSecond(ports.tls, false)
const tRes = await handshakesPerSecond(ports.tls, true)
console.log('\nTLS handshakes/s (ECDSA P-256, X25519)')
console.log(`  Tavern full        ${fmtRate(tFull.rate).padStart(8)}   failed ${tFull.failed}`)
console.log(`  Tavern resumed     ${fmtRate(tRes.rate).padStart(8)}   ${ratio(tRes.rate, tFull.rate)} of full   ${tRes.reused}/${tRes.n} resumed`)
const nginx = await startNginx().catch((e) => (console.log(`  nginx: not run (${e.message})`), undefined))
if (nginx) {
  const nFull = await handshakesPerSecond(nginx.port, false)
  const nRes = await handshakesPerSecond(nginx.port, true)
  console.log(`  nginx full         ${fmtRate(nFull.rate).padStart(8)}   Tavern/nginx ${ratio(tFull.rate, nFull.rate)}`)
  console.log(`  nginx resumed      ${fmtRate(nRes.rate).padStart(8)}   Tavern/nginx ${ratio(tRes.rate, nRes.rate)}   ${nRes.reused}/${nRes.n} resumed`)
} else if (nginx === undefined && !['/usr/sbin/nginx', '/usr/bin/nginx'].some((p) => fs.existsSync(p))) {
  console.log('  nginx: not installed, no comparison')
}
console.log('\n(Handshakes are CPU-bound in the client too: both sides share this machine, so compare ratios.)')
process.exit(0)
