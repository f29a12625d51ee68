/**
 * Config-wiring rows for `cluster` (see groups.ts). The daemon is a node whose other peers are fake ones (raw
 * servers that answer the health probes as the config says and record what is forwarded to them), so each row can
 * see where a request went, how the probes behave, and what the node believes.
 */
import http from 'node:http'

import {expect} from 'vitest'

import type {WiringContext, WiringGroup} from '../../helpers/config-keys.js'
import {startBlackhole} from '../../helpers/blackhole.js'
import {freePort} from '../../helpers/cluster.js'
import {sleep} from '../../helpers/origin.js'
import {waitFor} from '../../helpers/wait.js'
import {DEFAULT_PEER_VNODES, PeerRing, ringKeyOfUrl} from '../../../src/cluster/peer-ring.js'

const HOST = 'www.wiring-cluster.test'
const HEALTH_PATH = '/custom-peer-health'

interface FakePeer {
  url: string
  server: http.Server
  /** Absolute targets forwarded to it, with the hop header's value. */
  seen: Array<{url: string; hop: string | undefined}>
  /** Probe answers: 204 after `probeDelayMs`; false → 500. */
  healthy: boolean
  probeDelayMs: number
}

async function startFakePeer(): Promise<FakePeer> {
  const p: FakePeer = {url: '', server: http.createServer(), seen: [], healthy: true, probeDelayMs: 0}
  p.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = req.url ?? ''
    if (url.startsWith('/')) {
      // A probe: only the configured path counts.
      const ok = url === HEALTH_PATH && p.healthy
      setTimeout(() => res.writeHead(ok ? 204 : 500).end(), p.probeDelayMs)
      return
    }
    p.seen.push({url, hop: req.headers['tavern-peer'] as string | undefined})
    if (url.includes('hang')) return
    if (url.includes('stall')) {
      res.writeHead(200, {'Content-Length': '100000', 'Cache-Control': 'max-age=60'})
      res.write('x'.repeat(100))
      return
    }
    res.writeHead(200, {'Cache-Control': 'max-age=60', 'Content-Type': 'text/plain'}).end(`fake ${url}`)
  })
  p.server.on('error', () => {})
  const port = await new Promise<number>((r) => p.server.listen(0, '127.0.0.1', () => r((p.server.address() as {port: number}).port)))
  p.url = `http://127.0.0.1:${port}`
  return p
}

interface Vars {
  port: number
  self: string
  p1: FakePeer
  p2: FakePeer
  p3: FakePeer
}

const VNODES = 7

const vars = (ctx: Pick<WiringContext, 'vars'>) => ctx.vars as unknown as Vars
const ringOf = (v: Vars, vnodes = VNODES) =>
  new PeerRing(
    [
      {url: v.self, weight: 1},
      {url: v.p1.url, weight: 3},
      {url: v.p2.url, weight: 1},
      {url: v.p3.url, weight: 1},
    ],
    {vnodes},
  )

/** A path (with `tag`) whose key `pick` accepts. */
function pathWhere(tag: string, pick: (owner: string, key: string) => boolean): string {
  for (let i = 0; i < 5000; i++) {
    const p = `/w?${tag}=${i}`
    const key = ringKeyOfUrl(`http://${HOST}${p}`)!
    if (pick('', key)) return p
  }
  throw new Error(`no path for ${tag}`)
}

const ownedBy = (ctx: WiringContext, tag: string, peer: string) => pathWhere(tag, (_o, key) => ringOf(vars(ctx)).owner(key) === peer)

interface PeerView {
  id: string
  up: boolean
  share: number
  checks?: number
  lastError?: string
}
interface ClusterView {
  self: string
  membership: string
  vnodes: number
  peers: PeerView[]
}

async function cluster(ctx: WiringContext): Promise<ClusterView> {
  return (JSON.parse((await ctx.daemon.admin('/status/cluster')).text) as {cluster: ClusterView}).cluster
}
async function peer(ctx: WiringContext, id: string): Promise<PeerView> {
  return (await cluster(ctx)).peers.find((p) => p.id === id)!
}

const get = (ctx: WiringContext, p: string, more: Parameters<WiringContext['daemon']['request']>[1] = {}) => ctx.daemon.request(p, {...more, headers: {host: HOST, ...(more.headers as Record<string, string> | undefined)}})

const clusterGroup: WiringGroup = {
  name: 'cluster peers',
  async setup(ctx) {
    const port = await freePort()
    const v: Vars = {port, self: `http://127.0.0.1:${port}`, p1: await startFakePeer(), p2: await startFakePeer(), p3: await startFakePeer()}
    // p3 answers probes slowly at first (past health.timeout): it goes down after `fall` failures.
    v.p3.probeDelayMs = 400
    Object.assign(ctx.vars, v)
  },
  config: (ctx) => {
    const v = vars(ctx)
    return {
      listen: `127.0.0.1:${v.port}`,
      socket: `${ctx.dir}/admin.sock`,
      storage: {dir: `${ctx.dir}/storage`},
      upstreams: [ctx.origin.url],
      cluster: {
        self: v.self,
        peers: [{url: v.self}, {url: v.p1.url, weight: 3}, v.p2.url, v.p3.url],
        vnodes: VNODES,
        trust: ['127.0.0.2/32'],
        headersTimeout: '700ms',
        bodyTimeout: '700ms',
        health: {interval: '200ms', timeout: '150ms', fall: 5, rise: 4, path: HEALTH_PATH},
        membership: {type: 'static'},
      },
    }
  },
  start: {bare: true},
  async teardown(ctx) {
    const v = vars(ctx)
    for (const p of [v.p1, v.p2, v.p3]) {
      p?.server.closeAllConnections()
      p?.server.close()
    }
  },
  rows: [
    {
      key: 'cluster.health.fall',
      expect: '5: a peer whose probes time out is seen down only after 5 failed probes (default 2)',
      async check(ctx) {
        const v = vars(ctx)
        const down = await waitFor(
          async () => {
            const p = await peer(ctx, v.p3.url)
            return p.up ? undefined : p
          },
          {timeoutMs: 8000, intervalMs: 10},
        )
        expect(down.checks).toBeGreaterThanOrEqual(5)
      },
    },
    {
      key: 'cluster.health.timeout',
      expect: '150ms: a probe answered after 400 ms fails as "no answer within 150 ms" (default 1 s)',
      async check(ctx) {
        expect((await peer(ctx, vars(ctx).p3.url)).lastError).toMatch(/within 150 ms/)
      },
    },
    {
      key: 'cluster.health.rise',
      expect: '4: a peer answering again is back only after 4 passing probes (default 2)',
      async check(ctx) {
        const v = vars(ctx)
        v.p3.probeDelayMs = 0
        const start = (await peer(ctx, v.p3.url)).checks!
        const up = await waitFor(
          async () => {
            const p = await peer(ctx, v.p3.url)
            return p.up ? p : undefined
          },
          {timeoutMs: 8000, intervalMs: 10},
        )
        expect(up.checks! - start).toBeGreaterThanOrEqual(4)
      },
    },
    {
      key: 'cluster.health.interval',
      expect: '200ms: a peer is probed about 5 times a second (default every 2 s)',
      async check(ctx) {
        const v = vars(ctx)
        const a = (await peer(ctx, v.p1.url)).checks!
        await sleep(1200)
        expect((await peer(ctx, v.p1.url)).checks! - a).toBeGreaterThanOrEqual(3)
      },
    },
    {
      key: 'cluster.health.path',
      expect: 'the probes ask the configured path (the fake peers fail any other): every peer is up',
      async check(ctx) {
        const v = vars(ctx)
        const p = await peer(ctx, v.p1.url)
        expect(p.up).toBe(true)
        expect(p.lastError).toBeUndefined()
      },
    },
    {
      key: 'cluster.self',
      expect: "this node: a key the ring gives it is served and stored here, status names it as self",
      async check(ctx) {
        const v = vars(ctx)
        const path = ownedBy(ctx, 'self', v.self)
        ctx.origin.route('/w', {headers: {'Cache-Control': 'max-age=60'}, body: 'origin'})
        const r = await get(ctx, path)
        expect(r.status).toBe(200)
        expect(r.text).toBe('origin')
        expect(r.header('cache-status')).toContain('stored')
        expect((await cluster(ctx)).self).toBe(v.self)
      },
    },
    {
      key: 'cluster.peers[].url',
      expect: 'a key the ring gives to a peer listed as {url, weight} is forwarded to it (absolute-form, hop header)',
      async check(ctx) {
        const v = vars(ctx)
        const path = ownedBy(ctx, 'p1', v.p1.url)
        const r = await get(ctx, path)
        expect(r.text).toBe(`fake http://${HOST}${path}`)
        expect(v.p1.seen).toContainEqual({url: `http://${HOST}${path}`, hop: v.self})
      },
    },
    {
      key: 'cluster.peers[]',
      expect: 'a peer listed as a plain URL is a ring member: its keys are forwarded to it',
      async check(ctx) {
        const v = vars(ctx)
        const path = ownedBy(ctx, 'p2', v.p2.url)
        const r = await get(ctx, path)
        expect(r.text).toBe(`fake http://${HOST}${path}`)
      },
    },
    {
      key: 'cluster.peers[].weight',
      expect: 'weight 3: that peer owns about 3 times the keys of a weight-1 peer (default 1: the same)',
      async check(ctx) {
        const v = vars(ctx)
        const c = await cluster(ctx)
        const share = (id: string) => c.peers.find((p) => p.id === id)!.share
        expect(share(v.p1.url) / share(v.p2.url)).toBeGreaterThan(2)
      },
    },
    {
      key: 'cluster.vnodes',
      expect: '7 ring points per weight: a key whose owner differs from the default (1024-point) ring goes to the 7-point owner',
      async check(ctx) {
        const v = vars(ctx)
        const r7 = ringOf(v, VNODES)
        const rDefault = ringOf(v, DEFAULT_PEER_VNODES)
        const path = pathWhere('vn', (_o, key) => r7.owner(key) === v.p2.url && rDefault.owner(key) !== v.p2.url)
        await get(ctx, path)
        expect(v.p2.seen.map((s) => s.url)).toContain(`http://${HOST}${path}`)
      },
    },
    {
      key: 'cluster.trust',
      expect: "127.0.0.2 only: its hop header is believed (served here, not forwarded); the peers' own 127.0.0.1 is not",
      async check(ctx) {
        const v = vars(ctx)
        const trusted = ownedBy(ctx, 'trust', v.p1.url)
        const r = await get(ctx, trusted, {headers: {'tavern-peer': v.p1.url}, localAddress: '127.0.0.2'})
        expect(r.text).toBe('origin')
        expect(v.p1.seen.map((s) => s.url)).not.toContain(`http://${HOST}${trusted}`)
        const untrusted = ownedBy(ctx, 'untrust', v.p1.url)
        const u = await get(ctx, untrusted, {headers: {'tavern-peer': v.p1.url}})
        expect(u.text).toBe(`fake http://${HOST}${untrusted}`)
      },
    },
    {
      key: 'cluster.headersTimeout',
      expect: '700ms: a peer that never answers is given up within ~2 s, the next live peer or the origin asked (default 35 s)',
      async check(ctx) {
        const v = vars(ctx)
        const path = ownedBy(ctx, 'hang', v.p1.url)
        const r = await get(ctx, path, {timeoutMs: 10_000})
        expect(r.status).toBe(200)
        expect(['origin', `fake http://${HOST}${path}`]).toContain(r.text)
        expect(r.endedAt - r.startedAt).toBeLessThan(3000)
      },
    },
    {
      key: 'cluster.bodyTimeout',
      expect: '700ms: a peer that stalls in the body has the relay cut within ~2 s (default 60 s)',
      async check(ctx) {
        const v = vars(ctx)
        const path = ownedBy(ctx, 'stall', v.p1.url)
        const r = await get(ctx, path, {timeoutMs: 10_000, allowIncomplete: true})
        expect(r.complete).toBe(false)
        expect(r.endedAt - r.startedAt).toBeLessThan(3000)
      },
    },
    {
      key: 'cluster.membership.type',
      expect: 'static (the only type so far): the ring is the config\'s peer list, status says so',
      async check(ctx) {
        const c = await cluster(ctx)
        expect(c.membership).toBe('static')
        expect(c.peers.length).toBe(4)
      },
    },
  ],
}

const clusterConnectGroup: WiringGroup = {
  name: 'cluster peer connect timeout',
  async setup(ctx) {
    const port = await freePort()
    ctx.vars.port = port
    ctx.vars.self = `http://127.0.0.1:${port}`
    ctx.vars.blackhole = await startBlackhole()
  },
  config: (ctx) => {
    const bh = `http://127.0.0.1:${(ctx.vars.blackhole as {port: number}).port}`
    ctx.vars.bh = bh
    return {
      listen: `127.0.0.1:${ctx.vars.port as number}`,
      socket: `${ctx.dir}/admin.sock`,
      storage: {dir: `${ctx.dir}/storage`},
      upstreams: [ctx.origin.url],
      // Slow probes: only the forward itself may notice the blackhole here.
      cluster: {self: ctx.vars.self, peers: [ctx.vars.self, bh], connectTimeout: '3s', health: {interval: '30s', timeout: '5s', fall: 3}},
    }
  },
  start: {bare: true},
  async teardown(ctx) {
    const bh = ctx.vars.blackhole as Awaited<ReturnType<typeof startBlackhole>> | undefined
    for (const s of bh?.fillers ?? []) s.destroy()
    bh?.child.kill('SIGKILL')
  },
  rows: [
    {
      key: 'cluster.connectTimeout',
      // Longer than the default rather than shorter: undici's connect timer is too coarse to tell 200 ms from 1 s.
      expect: '3s: a peer that never accepts is waited for about 3 s before the origin is asked (default 1 s)',
      async check(ctx) {
        const ring = new PeerRing([{url: ctx.vars.self as string}, {url: ctx.vars.bh as string}])
        const path = pathWhere('ct', (_o, key) => ring.owner(key) === ctx.vars.bh)
        ctx.origin.route('/w', {headers: {'Cache-Control': 'max-age=60'}, body: 'origin'})
        const r = await get(ctx, path)
        expect(r.status).toBe(200)
        expect(r.text).toBe('origin')
        expect(r.endedAt - r.startedAt).toBeGreaterThan(2500)
      },
    },
  ],
}

export const CLUSTER_GROUPS: WiringGroup[] = [clusterGroup, clusterConnectGroup]
