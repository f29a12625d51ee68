// The one answer path (#13): an onSend hook sees every kind of answer — hit, miss, HEAD, 304, 412, 206, 416,
// multipart 206, pass-through, 502, 504, the PURGE answer and a hook's short-circuit — exactly once each, and what
// it adds is never stored (repeated hits carry it once). In process: real Storage on a temp dir, a real origin, a
// node:http server around the handler, no daemon.
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HookRegistration} from '../../src/proxy/hooks.js'
import {type HttpResult, httpRequest, type RequestOptions} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {createTestPipeline, type TestPipeline} from '../helpers/pipeline.js'

let origin: Origin
let pipe: TestPipeline
let server: http.Server
const seen: Array<{status: number; cacheStatus: string | undefined; target: string}> = []

const plugin: HookRegistration = {
  plugin: 'test-onsend',
  hooks: {
    onRequest: (ctx) => (ctx.path === '/short-circuit' ? {status: 418, headers: {'Content-Type': 'text/plain'}, body: 'teapot\n'} : undefined),
    onSend: (ctx, head) => {
      seen.push({status: head.status, cacheStatus: ctx.cacheStatus, target: ctx.target})
      head.headers.push('X-On-Send', String(head.status))
    },
  },
}

beforeAll(async () => {
  origin = await startOrigin()
  pipe = await createTestPipeline(origin.url, {upstream: {headersTimeout: '300ms'}}, [plugin])
  server = http.createServer(pipe.handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
}, 30_000)
afterAll(async () => {
  server?.closeAllConnections()
  await new Promise((r) => server?.close(r))
  await pipe?.close()
  await origin?.close()
})

function req(p: string, o: Omit<RequestOptions, 'host' | 'port'> = {}): Promise<HttpResult> {
  return httpRequest(p, {...o, host: '127.0.0.1', port: (server.address() as AddressInfo).port})
}

/** The answer carries the hook's header exactly once, naming its own status. */
function expectHooked(r: HttpResult, status: number): void {
  expect(r.status).toBe(status)
  expect(r.headerAll('x-on-send')).toEqual([String(status)])
}

describe('onSend runs on every kind of answer', () => {
  const p = uniquePath('answers')
  beforeAll(() => {
    origin.route(p, {headers: {'Cache-Control': 'max-age=60', ETag: '"v1"', 'Content-Type': 'text/plain'}, body: 'abcdefghij'})
  })

  it('miss, then hits (the header does not pile up on the stored head)', async () => {
    const miss = await req(p)
    expectHooked(miss, 200)
    expect(miss.header('cache-status')).toMatch(/fwd=(uri-)?miss/)
    for (let i = 0; i < 3; i++) {
      const hit = await req(p)
      expectHooked(hit, 200)
      expect(hit.header('cache-status')).toMatch(/; hit/)
      expect(hit.body.toString()).toBe('abcdefghij')
    }
    expect(origin.countFor(p)).toBe(1)
  })

  it('HEAD', async () => {
    const r = await req(p, {method: 'HEAD'})
    expectHooked(r, 200)
    expect(r.body.length).toBe(0)
  })

  it('304 and 412', async () => {
    expectHooked(await req(p, {headers: {'If-None-Match': '"v1"'}}), 304)
    expectHooked(await req(p, {headers: {'If-Match': '"other"'}}), 412)
  })

  it('206, multipart 206 and 416', async () => {
    const one = await req(p, {headers: {Range: 'bytes=2-4'}})
    expectHooked(one, 206)
    expect(one.body.toString()).toBe('cde')
    const multi = await req(p, {headers: {Range: 'bytes=0-1,5-6'}})
    expectHooked(multi, 206)
    expect(multi.header('content-type')).toMatch(/^multipart\/byteranges/)
    expectHooked(await req(p, {headers: {Range: 'bytes=100-'}}), 416)
  })

  it('the PURGE answer', async () => {
    const r = await req(p, {method: 'PURGE'})
    expectHooked(r, 200)
    expect(r.header('content-type')).toMatch(/json/)
  })

  it('pass-through (an unsafe method relayed) and an uncacheable answer', async () => {
    const q = uniquePath('post')
    origin.route(q, {status: 201, headers: {'Content-Type': 'text/plain'}, body: 'made'})
    expectHooked(await req(q, {method: 'POST', body: 'x'}), 201)
    const priv = uniquePath('private')
    origin.route(priv, {headers: {'Cache-Control': 'private'}, body: 'mine'})
    expectHooked(await req(priv), 200)
  })

  it('502 (the origin resets) and 504 (the origin is too slow)', async () => {
    const reset = uniquePath('reset')
    origin.route(reset, {destroyImmediately: true})
    const r502 = await req(reset)
    expectHooked(r502, 502)
    expect(r502.body.toString()).toMatch(/TAVERN_ERR_UPSTREAM/)
    const slow = uniquePath('slow')
    origin.route(slow, {delayMs: 3000, body: 'late'})
    expectHooked(await req(slow), 504)
  })

  it("a hook's short-circuit answer", async () => {
    const r = await req('/short-circuit')
    expectHooked(r, 418)
    expect(r.body.toString()).toBe('teapot\n')
  })

  it('sees the Cache-Status being sent', () => {
    expect(seen.some((s) => s.cacheStatus?.includes('hit'))).toBe(true)
    expect(seen.some((s) => s.cacheStatus?.includes('miss'))).toBe(true)
  })
})
