/**
 * tavern/client's dispatcher against three plain node:http servers standing in for peers (real sockets on 127.0.0.1,
 * each recording the absolute-form targets it receives) and a real origin for what goes direct.
 */
import https from 'node:https'
import type {AddressInfo, Socket} from 'node:net'
import {Writable} from 'node:stream'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {fetch as undiciFetch, getGlobalDispatcher, request, setGlobalDispatcher, stream} from 'undici'

import {TavernDispatcher} from '../../src/client.js'
import {PeerRing, ringKeyOfUrl} from '../../src/cluster/peer-ring.js'
import {createTestCa} from '../helpers/certs.js'
import {startOrigin, type Origin} from '../helpers/origin.js'
import {eventually} from '../helpers/wait.js'

let peers: Origin[]
let origin: Origin
const specs = () => peers.map((p) => ({url: p.url}))
const peerOf = (id: string) => peers.find((p) => p.url === id)!
/** The absolute-form targets a peer received, in order. */
const targets = (p: Origin) => p.requests.map((r) => r.url)
const dispatchers: TavernDispatcher[] = []
function dispatcher(opts: Partial<ConstructorParameters<typeof TavernDispatcher>[0]> = {}): TavernDispatcher {
  const d = new TavernDispatcher({peers: specs(), ...opts})
  dispatchers.push(d)
  return d
}

beforeAll(async () => {
  peers = await Promise.all([startOrigin(), startOrigin(), startOrigin()])
  origin = await startOrigin()
})

const paused = new Set<Origin>()
async function stop(p: Origin): Promise<void> {
  paused.add(p)
  await p.pause()
}
async function restart(p: Origin): Promise<void> {
  paused.delete(p)
  await p.resume()
}

afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.destroy()))
  await Promise.all([...paused].map(restart))
  for (const p of [...peers, origin]) p.requests.length = 0
})

afterAll(async () => {
  await Promise.all([...peers, origin].map((p) => p.close()))
})

const urls = Array.from({length: 45}, (_, i) => (i % 3 === 0 ? `https://api.example/items/${i}?v=${i}` : i % 3 === 1 ? `http://static.example:8080/a/${i}.js` : `https://CDN.example:443/x/./y/${i}`))

describe('routing', () => {
  it('sends each URL to the owner PeerRing names, in absolute form with the origin as Host (fetch)', async () => {
    const d = dispatcher()
    const ring = new PeerRing(specs())
    const statuses = await Promise.all(urls.map((u) => undiciFetch(u, {dispatcher: d}).then(async (r) => (await r.arrayBuffer(), r.status))))
    // The stand-in peers answer 404 to targets without a route: their answer, passed on.
    expect(new Set(statuses)).toEqual(new Set([404]))
    for (const u of urls) {
      const owner = ring.owner(ringKeyOfUrl(u)!)!
      expect(d.owner(u)).toBe(owner)
      const sent = new URL(u).href
      expect(targets(peerOf(owner))).toContain(sent)
      for (const p of peers) if (p.url !== owner) expect(targets(p)).not.toContain(sent)
    }
    // Every peer got a share, and the Host field is the origin's authority (default port dropped).
    for (const p of peers) expect(p.requests.length).toBeGreaterThan(5)
    const rec = peers.flatMap((p) => p.requests).find((r) => r.url.startsWith('https://cdn.example/'))!
    expect(rec.header('host')).toBe('cdn.example')
    expect(origin.requests).toHaveLength(0)
  })

  it('routes undici request() and HEAD the same way, query options included', async () => {
    const d = dispatcher()
    const res = await request('https://api.example/q', {dispatcher: d, query: {b: '2', a: '1'}})
    await res.body.text()
    const head = await request('https://api.example/head', {dispatcher: d, method: 'HEAD'})
    await head.body.text()
    const q = peerOf(d.owner('https://api.example/q?b=2&a=1')!)
    expect(targets(q)).toContain('https://api.example/q?b=2&a=1')
    // An origin spelled loosely by the caller is keyed and sent normalised.
    await (await d.request({origin: 'HTTPS://API.Example:443/', path: '/loose', method: 'GET'})).body.text()
    expect(targets(peerOf(d.owner('https://api.example/loose')!))).toContain('https://api.example/loose')
    const h = peerOf(d.owner('https://api.example/head')!)
    expect(h.requests.find((r) => r.url === 'https://api.example/head')?.method).toBe('HEAD')
  })

  it('reaches an https:// peer under the peer\'s own TLS name, not the origin\'s', async () => {
    const ca = await createTestCa()
    const cert = await ca.issue({ips: ['127.0.0.1']})
    const seen: Array<[string | undefined, string | undefined]> = []
    const server = https.createServer({cert: cert.certPem, key: cert.keyPem}, (req, res) => {
      seen.push([req.url, req.headers.host])
      res.end('tls peer')
    })
    let closed = 0
    server.on('connection', (s: Socket) => s.once('close', () => closed++))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const {port} = server.address() as AddressInfo
      const d = dispatcher({peers: [{url: `https://127.0.0.1:${port}`}], pool: {connect: {ca: ca.certPem}}})
      const res = await undiciFetch('https://api.example/secure', {dispatcher: d})
      expect(await res.text()).toBe('tls peer')
      // Requests for other origins do not make the pool reconnect: the TLS name is the peer's, whatever the Host.
      for (const u of ['https://b.example/2', 'http://c.example/3']) await (await undiciFetch(u, {dispatcher: d})).arrayBuffer()
      expect(seen).toEqual([
        ['https://api.example/secure', 'api.example'],
        ['https://b.example/2', 'b.example'],
        ['http://c.example/3', 'c.example'],
      ])
      expect(closed).toBe(0)
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      await ca.cleanup()
    }
  })

  it('works with the runtime fetch, undici stream() and its own request()', async () => {
    const d = dispatcher()
    // @types/node types fetch's dispatcher with undici-types' Dispatcher, a copy of undici's own types.
    await (await fetch('https://api.example/runtime', {dispatcher: d} as unknown as RequestInit)).arrayBuffer()
    const chunks: Buffer[] = []
    await stream('https://api.example/streamed', {dispatcher: d, method: 'GET'}, () => new Writable({write: (c: Buffer, _e, cb) => (chunks.push(c), cb())}))
    expect(Buffer.concat(chunks).toString()).toContain('no route for https://api.example/streamed')
    const own = await d.request({origin: 'https://api.example', path: '/own', method: 'GET'})
    await own.body.text()
    for (const u of ['https://api.example/runtime', 'https://api.example/streamed', 'https://api.example/own']) expect(targets(peerOf(d.owner(u)!))).toContain(u)
  })

  it('works as the global dispatcher for the runtime fetch', async () => {
    const d = dispatcher()
    const before = getGlobalDispatcher()
    setGlobalDispatcher(d)
    try {
      const res = await fetch('https://api.example/global')
      await res.arrayBuffer()
    } finally {
      setGlobalDispatcher(before)
    }
    expect(targets(peerOf(d.owner('https://api.example/global')!))).toContain('https://api.example/global')
  })

  it('sends other methods straight to the origin, unless they are listed in methods', async () => {
    origin.route('/post', {status: 201, body: 'made'})
    const d = dispatcher()
    const res = await undiciFetch(`${origin.url}/post`, {dispatcher: d, method: 'POST', body: 'x'})
    expect(res.status).toBe(201)
    expect(await res.text()).toBe('made')
    expect(origin.requests.map((r) => [r.method, r.url])).toEqual([['POST', '/post']])
    expect(peers.flatMap(targets)).toEqual([])

    const viaPeer = dispatcher({methods: ['GET', 'HEAD', 'PUT']})
    await (await undiciFetch('https://api.example/put', {dispatcher: viaPeer, method: 'PUT', body: 'y'})).arrayBuffer()
    const rec = peerOf(viaPeer.owner('https://api.example/put')!).requests.find((r) => r.url === 'https://api.example/put')!
    expect(rec.method).toBe('PUT')
    expect(rec.body.toString()).toBe('y')
  })
})

/** A URL of the ring owned by `owner`, and the peer that takes it over when the owner is down. */
function urlOwnedBy(d: TavernDispatcher, owner: string, tag: string): {url: string; next: string} {
  const ring = new PeerRing(specs())
  for (let i = 0; i < 1000; i++) {
    const url = `https://api.example/${tag}/${i}`
    const [first, second] = ring.sequence(ringKeyOfUrl(url)!)
    if (first === owner && d.owner(url) === owner) return {url, next: second!}
  }
  throw new Error('no URL found for that owner')
}

describe('failover', () => {
  it('sends a stopped peer\'s keys to the next peer in ring order, and tries it again after downFor', async () => {
    const d = dispatcher({downFor: 400})
    const down = peers[1]!
    const a = urlOwnedBy(d, down.url, 'a')
    const b = urlOwnedBy(d, down.url, 'b')
    await stop(down)

    const res = await undiciFetch(a.url, {dispatcher: d})
    expect(res.status).toBe(404)
    await res.arrayBuffer()
    expect(targets(peerOf(a.next))).toContain(a.url)
    expect(d.peersDown()).toEqual([down.url])

    // Back, but still marked down: passed over without a connection attempt until downFor is over.
    await restart(down)
    await (await undiciFetch(b.url, {dispatcher: d})).arrayBuffer()
    expect(targets(peerOf(b.next))).toContain(b.url)
    expect(down.requests).toHaveLength(0)

    await eventually(() => expect(d.peersDown()).toEqual([]), {timeoutMs: 3000})
    await (await undiciFetch(a.url, {dispatcher: d})).arrayBuffer()
    expect(targets(down)).toEqual([a.url])
  })

  it('fails over every one of many concurrent requests for a stopped peer\'s keys', async () => {
    const d = dispatcher()
    const down = peers[2]!
    const many = Array.from({length: 20}, (_, i) => urlOwnedBy(d, down.url, `many-${i}`))
    await stop(down)
    const statuses = await Promise.all(many.map(({url}) => undiciFetch(url, {dispatcher: d}).then(async (r) => (await r.arrayBuffer(), r.status))))
    expect(statuses).toEqual(many.map(() => 404))
    for (const {url, next} of many) expect(targets(peerOf(next))).toContain(url)
  })

  it('goes to the origin when every peer is down (fallback next-peer, the default)', async () => {
    origin.route('/all-down', {body: 'from origin'})
    const d = dispatcher()
    await Promise.all(peers.map(stop))
    const res = await undiciFetch(`${origin.url}/all-down`, {dispatcher: d})
    expect(await res.text()).toBe('from origin')
    expect(d.peersDown().sort()).toEqual(peers.map((p) => p.url).sort())
    // Now known down: straight to the origin.
    await (await undiciFetch(`${origin.url}/all-down`, {dispatcher: d})).arrayBuffer()
    expect(origin.countFor('/all-down')).toBe(2)
  })

  it('fallback origin skips the other peers; fallback none fails with the connection error', async () => {
    origin.route('/fb', {body: 'direct'})
    const probe = dispatcher()
    const owner = peerOf(probe.owner(`${origin.url}/fb`)!)
    await stop(owner)

    const toOrigin = dispatcher({fallback: 'origin'})
    expect(await (await undiciFetch(`${origin.url}/fb`, {dispatcher: toOrigin})).text()).toBe('direct')
    expect(peers.flatMap(targets)).toEqual([])

    const none = dispatcher({fallback: 'none'})
    const err = await undiciFetch(`${origin.url}/fb`, {dispatcher: none}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TypeError)
    expect(((err as Error).cause as {code?: string}).code).toBe('ECONNREFUSED')
    const err2 = await request(`${origin.url}/fb`, {dispatcher: none}).catch((e: unknown) => e)
    expect((err2 as {code?: string}).code).toBe('ECONNREFUSED')
    expect(origin.countFor('/fb')).toBe(1)
    expect(peers.flatMap(targets)).toEqual([])
  })
})

describe('lifecycle', () => {
  const tcpSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length

  it('close() waits for the answers, then leaves no socket open; later requests fail', async () => {
    // Earlier tests' connections close asynchronously (both ends live in this process): start from none.
    await eventually(() => expect(tcpSockets()).toBe(0), {timeoutMs: 3000})
    const d = new TavernDispatcher({peers: specs()})
    origin.route('/direct', {body: 'd'})
    const answers = await Promise.all([
      ...urls.slice(0, 12).map((u) => undiciFetch(u, {dispatcher: d}).then((r) => r.arrayBuffer())),
      undiciFetch(`${origin.url}/direct`, {dispatcher: d, method: 'POST'}).then((r) => r.text()),
    ])
    expect(answers.at(-1)).toBe('d')
    expect(tcpSockets()).toBeGreaterThan(0)
    await d.close()
    await eventually(() => expect(tcpSockets()).toBe(0), {timeoutMs: 3000})
    const err = await request('https://api.example/late', {dispatcher: d}).catch((e: unknown) => e)
    expect((err as {code?: string}).code).toBe('UND_ERR_CLOSED')
  })

  it('refuses bad options, naming them', () => {
    expect(() => new TavernDispatcher({peers: []})).toThrow(/at least one peer/)
    expect(() => new TavernDispatcher({peers: [{url: 'http://a:1/x'}]})).toThrow(/no path/)
    expect(() => new TavernDispatcher({peers: specs(), downFor: -1})).toThrow(/downFor/)
    expect(() => new TavernDispatcher({peers: specs(), fallback: 'maybe' as 'none'})).toThrow(/fallback/)
  })
})
