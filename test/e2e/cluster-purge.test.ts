/**
 * `tavern purge --cluster` with three real daemons forming a static cluster on loopback ports, one origin: a
 * directory purge removes the prefix on every node and prints each node's counts; a URL purge reaches every node;
 * with one node down it is reported as failed (exit 1, named), and the others are purged all the same.
 */
import net from 'node:net'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {PurgeReply} from '../../src/admin/protocol.js'
import {HOP_HEADER} from '../../src/cluster/config.js'
import {type DaemonHandle, makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'

const HOST = 'site.test'

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

let origin: Origin
let nodes: DaemonHandle[] = []
let urls: string[] = []

beforeAll(async () => {
  origin = await startOrigin()
  const ports = [await freePort(), await freePort(), await freePort()]
  urls = ports.map((p) => `http://127.0.0.1:${p}`)
  nodes = await Promise.all(
    ports.map((port, i) => {
      const dir = makeTempDir('tavern-cpurge-')
      return startDaemon({
        bare: true,
        config: {
          listen: `127.0.0.1:${port}`,
          upstreams: [origin.url],
          socket: path.join(dir, 'admin.sock'),
          storage: {dir: path.join(dir, 'store')},
          log: {level: 'info'},
          cluster: {self: urls[i], peers: urls},
        },
      })
    }),
  )
}, 60_000)

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()))
  await origin?.close()
})

/**
 * Cache `p` (under Host site.test) on node `i` itself: the hop header from a trusted peer address (loopback) makes the
 * node serve it, whoever owns the key — the copies a ring change or a downtime leaves on non-owners.
 */
async function fill(p: string, i: number): Promise<void> {
  origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: `body of ${p}`})
  const r = await nodes[i]!.request(p, {headers: {host: HOST, [HOP_HEADER]: 'http://127.0.0.1:1'}})
  expect(r.status).toBe(200)
}

const objects = async () => await Promise.all(nodes.map(async (n) => (await n.status()).storage.objects))

describe('purge --cluster', () => {
  it('--dir removes the prefix on every node and prints per-node counts; what is outside stays', async () => {
    const dir = uniquePath('static')
    const inside = Array.from({length: 9}, (_, i) => `${dir}/f${i}.js`)
    // Each through a different node, and some through all of them: copies on several nodes.
    for (const [i, p] of inside.entries()) await fill(p, i % 3)
    for (const i of [0, 1, 2]) await fill(inside[0]!, i)
    const keep = uniquePath('keep')
    for (const i of [0, 1, 2]) await fill(keep, i)
    const before = await objects()

    const r = await runCli(['purge', '--dir', `http://${HOST}${dir}/`, '--cluster', '--socket', nodes[0]!.socket])
    expect(r.code, r.stderr).toBe(0)
    if (process.env.SHOW_CLI) console.log(r.stdout)
    const after = await objects()
    const purged = before.map((b, i) => b - after[i]!)
    expect(purged.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(inside.length)
    // One line per node, with the node's own count.
    urls.forEach((u, i) => {
      const line = r.stdout.split('\n').find((l) => l.includes(u))
      expect(line, r.stdout).toBeDefined()
      expect(line).toMatch(new RegExp(`${u.replace(/[.:/]/g, '\\$&')}${i === 0 ? ' \\(this node\\)' : ''}\\s+${purged[i]}\\s+${purged[i]}\\s+.*ok$`))
    })
    expect(r.stdout).toMatch(new RegExp(`purge --cluster: 3 nodes, ${purged.reduce((a, b) => a + b, 0)} matched`))

    // Nothing under the prefix is left anywhere: every node asks the origin again.
    for (const [i, p] of inside.entries()) {
      const n = origin.countFor(p)
      await fill(p, (i + 1) % 3)
      expect(origin.countFor(p), p).toBe(n + 1)
    }
    // What is outside the prefix was not touched.
    const k = origin.countFor(keep)
    for (const i of [0, 1, 2]) expect((await nodes[i]!.request(keep, {headers: {host: HOST, [HOP_HEADER]: 'http://127.0.0.1:1'}})).header('cache-status')).toMatch(/hit/)
    expect(origin.countFor(keep)).toBe(k)
  })

  it('a URL (with --host and a path) on every node, --json per node, --expire', async () => {
    const p = uniquePath('one')
    for (const i of [0, 1, 2]) await fill(p, i)
    const r = await runCli(['purge', p, '--host', HOST, '--cluster', '--expire', '--json', '--socket', nodes[1]!.socket])
    expect(r.code, r.stderr).toBe(0)
    const reply = JSON.parse(r.stdout) as PurgeReply
    expect(reply.cluster!.nodes.map((n) => n.node)).toEqual([urls[1], urls[0], urls[2]])
    expect(reply.cluster!.nodes[0]!.self).toBe(true)
    for (const n of reply.cluster!.nodes) expect(n).toMatchObject({ok: true, failed: 0})
    const expired = reply.cluster!.nodes.reduce((a, n) => a + n.expired, 0)
    expect(expired).toBeGreaterThanOrEqual(1)
    expect(reply.cluster!.nodes.reduce((a, n) => a + n.purged, 0)).toBe(expired)
  })

  it('one node down: reported as failed (exit 1, named), the others purged', async () => {
    const dir = uniquePath('down')
    const inside = Array.from({length: 6}, (_, i) => `${dir}/f${i}`)
    for (const [i, p] of inside.entries()) await fill(p, i % 3)
    for (const p of inside) await fill(p, 0)
    await nodes[2]!.stop()
    const before = await Promise.all(nodes.slice(0, 2).map(async (n) => (await n.status()).storage.objects))

    const r = await runCli(['purge', '--dir', `http://${HOST}${dir}/`, '--cluster', '--socket', nodes[0]!.socket])
    expect(r.code).toBe(1)
    if (process.env.SHOW_CLI) console.log(r.stdout, r.stderr)
    expect(r.stderr).toContain(`1 node failed: ${urls[2]} (unreachable`)
    expect(r.stdout).toMatch(new RegExp(`${urls[2]!.replace(/[.:/]/g, '\\$&')}\\s+—\\s+—\\s+—\\s+failed: unreachable`))
    const after = await Promise.all(nodes.slice(0, 2).map(async (n) => (await n.status()).storage.objects))
    // Node 0 held every URL of the prefix: all gone there; node 1 lost its share.
    expect(before[0]! - after[0]!).toBeGreaterThanOrEqual(inside.length)
    expect(before[1]! - after[1]!).toBeGreaterThanOrEqual(0)

    const j = await runCli(['purge', '--dir', `http://${HOST}${dir}/`, '--cluster', '--json', '--socket', nodes[0]!.socket])
    expect(j.code).toBe(1)
    const reply = JSON.parse(j.stdout) as PurgeReply
    expect(reply.cluster!.nodes.find((n) => n.node === urls[2])).toMatchObject({ok: false, failed: 1, error: expect.stringMatching(/^unreachable: .*ECONNREFUSED/)})
    expect(reply.cluster!.nodes.filter((n) => n.ok).map((n) => n.node)).toEqual([urls[0], urls[1]])
  })
})
