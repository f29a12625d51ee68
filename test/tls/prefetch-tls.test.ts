// `tavern prefetch` (and `prefetch --hot`, which warm.onStart shares) fetch through the daemon's own data plane: with
// a TLS listener only, https:// URLs go through it and land as https:// entries that TLS clients then hit; with TLS
// and plain listeners each URL goes through the listener of its scheme; an http:// URL on a TLS-only daemon fails
// by itself, saying why, and the others go on.

import https from 'node:https'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createTestCa, type IssuedCert, type TestCa} from '../helpers/certs.js'
import {type DaemonHandle, httpRequest, makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'

let ca: TestCa
let site: IssuedCert
let origin: Origin
const daemons: DaemonHandle[] = []

interface Listener {
  address: string
  scheme: 'http' | 'https'
  http2: boolean
}

beforeAll(async () => {
  ca = await createTestCa()
  site = await ca.issue({names: ['cache.test']})
  origin = await startOrigin()
}, 30_000)

afterAll(async () => {
  for (const d of daemons) await d.stop()
  await origin?.close()
  await ca?.cleanup()
})

async function daemon(listen: unknown[]): Promise<{d: DaemonHandle; tlsPort: number; plainPort?: number}> {
  const dir = makeTempDir('tavern-prefetch-tls-')
  const d = await startDaemon({
    bare: true,
    config: {listen, tls: {watch: false}, upstreams: [origin.url], socket: path.join(dir, 'admin.sock'), storage: {dir: path.join(dir, 'storage')}},
  })
  daemons.push(d)
  const listeners = ((await d.status()).dataPlane as {listeners: Listener[]}).listeners
  const port = (l: Listener | undefined) => (l ? Number(l.address.slice(l.address.lastIndexOf(':') + 1)) : undefined)
  return {d, tlsPort: port(listeners.find((l) => l.scheme === 'https'))!, plainPort: port(listeners.find((l) => l.scheme === 'http'))}
}

/** One TLS-only daemon for the tests that need it (each start costs seconds on a busy machine). */
let tlsOnly: ReturnType<typeof daemon> | undefined
const tlsOnlyDaemon = () => (tlsOnly ??= daemon([{address: '127.0.0.1:0', tls: {cert: site.chainFile, key: site.keyFile}}]))

function tlsGet(port: number, p: string): Promise<{status: number; cacheStatus: string}> {
  return new Promise((resolve, reject) => {
    const req = https.request({host: '127.0.0.1', port, path: p, servername: 'cache.test', headers: {host: 'cache.test'}, ca: ca.certPem, agent: false}, (res) => {
      res.resume()
      res.on('end', () => resolve({status: res.statusCode!, cacheStatus: String(res.headers['cache-status'] ?? '')}))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

interface PrefetchLine {
  type: string
  url?: string
  outcome?: string
  error?: string
  stored?: number
  failed?: number
}

async function prefetch(d: DaemonHandle, args: string[]): Promise<{code: number; results: PrefetchLine[]; stderr: string}> {
  const r = await runCli(['prefetch', '--json', '--socket', d.socket, ...args])
  const out = r.stdout.trim() ? (JSON.parse(r.stdout) as {results?: PrefetchLine[]}) : {}
  return {code: r.code ?? -1, results: out.results ?? [], stderr: r.stderr}
}

function cacheable(prefix: string): string {
  const p = uniquePath(prefix)
  origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: `body of ${p}`})
  return p
}

describe('prefetch through the daemon’s own TLS listener', () => {
  it('TLS listener only: an https:// URL is stored as the https:// entry a TLS client then hits; --hot re-fetches it the same way', async () => {
    const {d, tlsPort} = await tlsOnlyDaemon()
    const p = cacheable('tls-only')
    const r = await prefetch(d, [`https://cache.test${p}`])
    expect(r.code, r.stderr + JSON.stringify(r.results)).toBe(0)
    expect(r.results).toMatchObject([{url: `https://cache.test${p}`, outcome: 'stored'}])
    expect(origin.countFor(p)).toBe(1)
    const hit = await tlsGet(tlsPort, p)
    expect(hit.status).toBe(200)
    expect(hit.cacheStatus).toMatch(/hit/)
    expect(origin.countFor(p), 'the client was served the prefetched entry').toBe(1)
    // The hot set names https:// keys; re-fetching them goes through the TLS listener as well.
    const hot = await prefetch(d, ['--hot', '5'])
    expect(hot.code, hot.stderr).toBe(0)
    expect(hot.results.find((x) => x.url === `https://cache.test${p}`)).toMatchObject({outcome: 'fresh'})
  })

  it('TLS listener only: an http:// URL fails by itself, saying why; the https:// one in the same list is stored', async () => {
    const {d} = await tlsOnlyDaemon()
    const p = cacheable('tls-only-mixed')
    const q = cacheable('tls-only-mixed')
    const r = await prefetch(d, [`http://cache.test${p}`, `https://cache.test${q}`])
    expect(r.code, 'a failed URL is exit 1').toBe(1)
    expect(r.results.find((x) => x.url === `http://cache.test${p}`)).toMatchObject({outcome: 'failed', error: expect.stringMatching(/no plain HTTP listener.*https:\/\//)})
    expect(r.results.find((x) => x.url === `https://cache.test${q}`)).toMatchObject({outcome: 'stored'})
    expect(origin.countFor(p)).toBe(0)
  })

  it('TLS and plain listeners: each URL goes through the listener of its scheme and lands as that scheme’s entry', async () => {
    const {d, tlsPort, plainPort} = await daemon(['127.0.0.1:0', {address: '127.0.0.1:0', tls: {cert: site.chainFile, key: site.keyFile}}])
    const p = cacheable('both')
    const r = await prefetch(d, [`https://cache.test${p}`])
    expect(r.code, r.stderr).toBe(0)
    expect(r.results).toMatchObject([{outcome: 'stored'}])
    expect((await tlsGet(tlsPort, p)).cacheStatus).toMatch(/hit/)
    expect(origin.countFor(p)).toBe(1)
    // The http:// entry is another one: not there yet, then prefetched through the plain listener.
    const r2 = await prefetch(d, [`http://cache.test${p}`])
    expect(r2.results).toMatchObject([{outcome: 'stored'}])
    expect(origin.countFor(p)).toBe(2)
    expect((await httpRequest(p, {port: plainPort!, headers: {host: 'cache.test'}})).header('cache-status')).toMatch(/hit/)
    expect(origin.countFor(p)).toBe(2)
  })
})
