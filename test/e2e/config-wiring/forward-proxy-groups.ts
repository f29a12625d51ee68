/**
 * Config-wiring rows of forward-proxy mode (`forwardProxy.*`): each row starts from a non-default value and fails if
 * the daemon ignored the key. Forward requests are absolute-form targets sent over raw sockets (node:http does not
 * send them); destinations are origins on loopback named `localhost:PORT`.
 */
import https from 'node:https'
import type {AddressInfo} from 'node:net'

import {expect} from 'vitest'

import {createTestCa, type IssuedCert, type TestCa} from '../../helpers/certs.js'
import type {WiringContext, WiringGroup} from '../../helpers/config-keys.js'
import {sleep, uniquePath} from '../../helpers/origin.js'
import {rawRequest} from '../../helpers/raw-http.js'
import {waitFor} from '../../helpers/wait.js'

interface SecureOrigin {
  port: number
  close(): Promise<void>
}

async function secureOrigin(cert: IssuedCert, body: string): Promise<SecureOrigin> {
  const server = https.createServer({cert: cert.chainPem, key: cert.keyPem}, (_req, res) => {
    res.writeHead(200, {'cache-control': 'no-store'})
    res.end(body)
  })
  server.on('error', () => {})
  server.on('tlsClientError', () => {})
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

const forward = (ctx: WiringContext, url: string, localAddress?: string) => rawRequest(ctx.daemon.port, `GET ${url} HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n`, 10_000, localAddress)

const port = (ctx: Omit<WiringContext, 'daemon'>, name: string) => Number(new URL(ctx.origins[name]!.url).port)
const secure = (ctx: Omit<WiringContext, 'daemon'>) => ctx.vars.secure as SecureOrigin

/** Forward mode with every key but tls.systemRoots set. */
export const forwardProxyGroup: WiringGroup = {
  name: 'forward proxy',
  origins: {a: {keepAliveTimeoutMs: 0}, b: {}},
  async setup(ctx) {
    const ca = await createTestCa()
    ctx.vars.ca = ca
    ctx.vars.secure = await secureOrigin(await ca.issue({names: ['localhost']}), 'secure destination')
    for (const name of ['a', 'b']) ctx.origins[name]!.route('/slow', () => ({headers: {'Cache-Control': 'no-store'}, body: `slow ${name}`, delayMs: 500}))
    for (const name of ['a', 'b']) ctx.origins[name]!.route('/fast', () => ({headers: {'Cache-Control': 'no-store'}, body: `fast ${name}`}))
  },
  config: (ctx) => ({
    forwardProxy: {
      enabled: true,
      clients: ['127.0.0.1/32'],
      destinations: [`localhost:${secure(ctx).port}`, `localhost:${port(ctx, 'a')}`, `localhost:${port(ctx, 'b')}`],
      tls: {ca: (ctx.vars.ca as TestCa).certFile},
      connections: 1,
      maxDestinations: 1,
      idleTimeout: '300ms',
    },
  }),
  async teardown(ctx) {
    await (ctx.vars.secure as SecureOrigin | undefined)?.close()
    await (ctx.vars.ca as TestCa | undefined)?.cleanup()
  },
  rows: [
    {
      key: 'forwardProxy.enabled',
      expect: 'an absolute-form https:// target is fetched from its own origin (default: keyed as http:// and sent to the configured upstream)',
      async check(ctx) {
        const r = await forward(ctx, `https://localhost:${secure(ctx).port}${uniquePath('on')}`)
        expect(r.status).toBe(200)
        expect(r.body).toBe('secure destination')
      },
    },
    {
      key: 'forwardProxy.clients',
      expect: '127.0.0.1 may forward, 127.0.0.2 may not (default none: 403 for both)',
      async check(ctx) {
        const url = `http://localhost:${port(ctx, 'b')}/fast`
        expect((await forward(ctx, url)).status).toBe(200)
        const other = await forward(ctx, url, '127.0.0.2')
        expect(other.status).toBe(403)
        expect(other.body).toMatch(/TAVERN_ERR_FORWARD_CLIENT/)
      },
    },
    {
      key: 'forwardProxy.destinations',
      expect: 'a listed destination is fetched, another port of the same host is 403 (default none: 403 for every one)',
      async check(ctx) {
        expect((await forward(ctx, `http://localhost:${port(ctx, 'b')}/fast`)).status).toBe(200)
        const r = await forward(ctx, `http://localhost:1/fast`)
        expect(r.status).toBe(403)
        expect(r.body).toMatch(/TAVERN_ERR_FORWARD_DESTINATION/)
      },
    },
    {
      key: 'forwardProxy.tls.ca',
      expect: "the destination's certificate from the test CA verifies (default: system roots only, 502)",
      async check(ctx) {
        const r = await forward(ctx, `https://localhost:${secure(ctx).port}${uniquePath('ca')}`)
        expect(r.status, r.body).toBe(200)
      },
    },
    {
      key: 'forwardProxy.connections',
      expect: '1: a second concurrent request to the same destination waits for the first (default 16: both at once)',
      async check(ctx) {
        const o = ctx.origins.a!
        const before = o.requests.length
        const url = `http://localhost:${port(ctx, 'a')}/slow`
        const [x, y] = await Promise.all([forward(ctx, `${url}?1`), forward(ctx, `${url}?2`)])
        expect([x.status, y.status]).toEqual([200, 200])
        const at = o.requests.slice(before).map((r) => r.receivedAt)
        expect(at).toHaveLength(2)
        expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(400)
      },
      timeoutMs: 20_000,
    },
    {
      key: 'forwardProxy.maxDestinations',
      expect: '1: while destination a is busy, a request to destination b is 503 (default 256: served)',
      async check(ctx) {
        const slow = forward(ctx, `http://localhost:${port(ctx, 'a')}/slow?busy`)
        await sleep(150)
        const r = await forward(ctx, `http://localhost:${port(ctx, 'b')}/fast`)
        expect(r.status).toBe(503)
        expect(r.body).toMatch(/forwardProxy\.maxDestinations/)
        expect((await slow).status).toBe(200)
      },
    },
    {
      key: 'forwardProxy.idleTimeout',
      expect: "300ms: a destination unused for a second is asked on a new connection (default 60s: its pooled one)",
      async check(ctx) {
        const o = ctx.origins.a!
        const url = `http://localhost:${port(ctx, 'a')}/fast`
        expect((await forward(ctx, url)).status).toBe(200)
        const first = o.requests.at(-1)!.remotePort
        await sleep(1000)
        expect((await forward(ctx, url)).status).toBe(200)
        await waitFor(() => o.requests.at(-1)!.path === '/fast')
        expect(o.requests.at(-1)!.remotePort).not.toBe(first)
      },
    },
  ],
}

/** tls.systemRoots: false drops the roots Node trusts by default (NODE_EXTRA_CA_CERTS stands in for them here). */
export const forwardProxyRootsGroup: WiringGroup = {
  name: 'forward proxy: system roots',
  async setup(ctx) {
    const system = await createTestCa('Stand-in system root')
    const own = await createTestCa('Forward proxy CA')
    Object.assign(ctx.vars, {system, own, secure: await secureOrigin(await system.issue({names: ['localhost']}), 'system-signed')})
  },
  config: (ctx) => ({
    forwardProxy: {enabled: true, clients: ['127.0.0.1'], destinations: [`localhost:${secure(ctx).port}`], tls: {ca: (ctx.vars.own as TestCa).certFile, systemRoots: false}},
  }),
  start: {env: (ctx) => ({NODE_EXTRA_CA_CERTS: (ctx.vars.system as TestCa).certFile})},
  async teardown(ctx) {
    await (ctx.vars.secure as SecureOrigin | undefined)?.close()
    await (ctx.vars.system as TestCa | undefined)?.cleanup()
    await (ctx.vars.own as TestCa | undefined)?.cleanup()
  },
  rows: [
    {
      key: 'forwardProxy.tls.systemRoots',
      expect: 'false: a destination signed by a default-trusted root is 502 (default true: 200)',
      async check(ctx) {
        const r = await forward(ctx, `https://localhost:${secure(ctx).port}${uniquePath('roots')}`)
        expect(r.status, r.body).toBe(502)
        expect(r.body).toMatch(/TAVERN_ERR_UPSTREAM_TLS/)
      },
    },
  ],
}

export const FORWARD_PROXY_GROUPS: WiringGroup[] = [forwardProxyGroup, forwardProxyRootsGroup]
