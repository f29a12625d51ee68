/**
 * Peers that misbehave during `purge --cluster`: a real node that does not allow this node's address in purge.allow
 * (403), a "peer" answering 200 with something that is not a Tavern purge answer, one with an endless body, and one
 * that accepts TCP and never answers. Each is reported with its reason within the peer timeouts, the local purge
 * still happens, the exit code is 1, and the daemon keeps serving.
 */
import net from 'node:net'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {PurgeReply} from '../../src/admin/protocol.js'
import {HOP_HEADER} from '../../src/cluster/config.js'
import {type DaemonHandle, makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'

const sockets = new Set<net.Socket>()
const servers: net.Server[] = []

/** A TCP "peer": `onData` decides what it does with a request (nothing, by default). */
async function fakePeer(onData: (s: net.Socket) => void = () => {}): Promise<string> {
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    s.once('data', () => onData(s))
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
}

async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as net.AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}

let origin: Origin
let node: DaemonHandle
let refusing: DaemonHandle
const peers: Record<string, string> = {}

beforeAll(async () => {
  origin = await startOrigin()
  peers.garbage = await fakePeer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot json!'))
  peers.endless = await fakePeer((s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')
    const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('4000\r\n' + ' '.repeat(0x4000) + '\r\n')), 5)
  })
  peers.silent = await fakePeer()
  const [selfPort, refusingPort] = [await freePort(), await freePort()]
  const self = `http://127.0.0.1:${selfPort}`
  peers.refusing = `http://127.0.0.1:${refusingPort}`
  const all = [self, peers.refusing, peers.garbage, peers.endless, peers.silent]
  const config = (port: number, me: string, over: Record<string, unknown>) => {
    const dir = makeTempDir('tavern-hpurge-')
    return {listen: `127.0.0.1:${port}`, upstreams: [origin.url], socket: path.join(dir, 'admin.sock'), storage: {dir: path.join(dir, 'store')}, log: {level: 'warn'}, ...over, cluster: {self: me, peers: all, headersTimeout: '1s', bodyTimeout: '1s', ...(over.cluster as object)}}
  }
  ;[node, refusing] = await Promise.all([
    startDaemon({bare: true, config: config(selfPort, self, {})}),
    // Loopback is not allowed to PURGE here: this node's requests are refused.
    startDaemon({bare: true, config: config(refusingPort, peers.refusing, {purge: {allow: ['10.0.0.0/8']}})}),
  ])
}, 60_000)

afterAll(async () => {
  await Promise.all([node?.stop(), refusing?.stop()])
  for (const s of sockets) s.destroy()
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  await origin?.close()
})

describe('hostile peers of purge --cluster', () => {
  it('each is reported with its reason, in bounded time; this node purged; exit 1; the daemon keeps serving', async () => {
    const p = uniquePath('hp')
    origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: 'x'})
    // Served and stored here (the hop header from loopback, a trusted peer address), not forwarded to a hostile owner.
    const here = {host: 'site.test', [HOP_HEADER]: 'http://127.0.0.1:1'}
    expect((await node.request(p, {headers: here})).status).toBe(200)
    const t0 = Date.now()
    const r = await runCli(['purge', `http://site.test${p}`, '--cluster', '--json', '--socket', node.socket], {timeoutMs: 20_000})
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect(r.code).toBe(1)
    const byNode = new Map((JSON.parse(r.stdout) as PurgeReply).cluster!.nodes.map((n) => [n.node, n]))
    expect([...byNode.values()].find((n) => n.self)).toMatchObject({ok: true, matched: 1, purged: 1})
    expect(byNode.get(peers.refusing!)).toMatchObject({ok: false, error: expect.stringMatching(/^403 forbidden: PURGE from this node is not in .*purge\.allow/)})
    expect(byNode.get(peers.garbage!)).toMatchObject({ok: false, error: expect.stringMatching(/without a Tavern purge answer: "not json!"/)})
    expect(byNode.get(peers.endless!)).toMatchObject({ok: false, error: expect.stringMatching(/without a Tavern purge answer/)})
    expect(byNode.get(peers.silent!)).toMatchObject({ok: false, error: expect.stringMatching(/timeout/i)})
    for (const peer of [peers.refusing, peers.garbage, peers.endless, peers.silent]) expect(r.stderr).toContain(peer)
    // Still serving, and the purge is in this node's history.
    expect((await node.request(p, {headers: here})).status).toBe(200)
    expect(origin.countFor(p)).toBe(2)
  })
})
