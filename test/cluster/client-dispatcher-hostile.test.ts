/**
 * tavern/client's dispatcher against peers that misbehave: a reset before or in the middle of an answer, an answer
 * that never comes, an error status. What may be sent again is sent to the next peer; nothing else is, and every
 * failure reaches the caller as a rejection (an unhandled error would fail the run).
 */
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {fetch as undiciFetch, request} from 'undici'

import {TavernDispatcher} from '../../src/client.js'
import {PeerRing, ringKeyOfUrl} from '../../src/cluster/peer-ring.js'
import {startOrigin, type Origin} from '../helpers/origin.js'
import {waitFor} from '../helpers/wait.js'

let peers: Origin[]
const specs = () => peers.map((p) => ({url: p.url}))
const peerOf = (id: string) => peers.find((p) => p.url === id)!
const dispatchers: TavernDispatcher[] = []
function dispatcher(opts: Partial<ConstructorParameters<typeof TavernDispatcher>[0]> = {}): TavernDispatcher {
  const d = new TavernDispatcher({peers: specs(), ...opts})
  dispatchers.push(d)
  return d
}

beforeAll(async () => {
  peers = await Promise.all([startOrigin(), startOrigin(), startOrigin()])
})
afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.destroy()))
  for (const p of peers) p.requests.length = 0
})
afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()))
})

let n = 0
/** A fresh URL, its owner and the peer next in ring order. */
function target(tag: string): {url: string; owner: Origin; next: Origin} {
  const url = `https://api.example/${tag}/${++n}`
  const [a, b] = new PeerRing(specs()).sequence(ringKeyOfUrl(url)!)
  return {url, owner: peerOf(a!), next: peerOf(b!)}
}
const seen = (url: string) => peers.filter((p) => p.requests.some((r) => r.url === url)).map((p) => p.url)

describe('a peer that misbehaves', () => {
  it('resets in the middle of the body: the body read fails (fetch and request), nothing is sent again', async () => {
    const d = dispatcher()
    const t = target('mid-body')
    t.owner.route(t.url, {headers: {'content-length': '1000'}, body: 'x'.repeat(1000), destroyMidBody: 100})
    const res = await undiciFetch(t.url, {dispatcher: d})
    expect(res.status).toBe(200)
    await expect(res.text()).rejects.toThrow()

    const r = await request(t.url, {dispatcher: d})
    expect(r.statusCode).toBe(200)
    await expect(r.body.text()).rejects.toThrow()
    expect(seen(t.url)).toEqual([t.owner.url])
    expect(t.owner.requests).toHaveLength(2)
    expect(d.peersDown()).toEqual([])
  })

  it('closes the connection before answering: a GET goes to the next peer (the peer is not marked down)', async () => {
    const d = dispatcher()
    const t = target('reset')
    t.owner.route(t.url, {destroyImmediately: true})
    t.next.route(t.url, {body: 'from next'})
    const res = await undiciFetch(t.url, {dispatcher: d})
    expect(await res.text()).toBe('from next')
    expect(seen(t.url).sort()).toEqual([t.owner.url, t.next.url].sort())
    expect(d.peersDown()).toEqual([])
  })

  it('closes the connection before answering a POST it was sent: not sent again (a PUT is), the caller gets the error', async () => {
    const d = dispatcher({methods: ['GET', 'HEAD', 'POST']})
    const t = target('reset-post')
    t.owner.route(t.url, {destroyImmediately: true})
    // A string body could be sent again (a fetch body, a stream, never is): what stops it is the method.
    const err = await request(t.url, {dispatcher: d, method: 'POST', body: 'once'}).catch((e: unknown) => e)
    expect((err as {code?: string}).code).toMatch(/^(UND_ERR_SOCKET|ECONNRESET)$/)
    expect(seen(t.url)).toEqual([t.owner.url])
    // The same for PUT, which is idempotent, is sent again.
    const put = target('reset-put')
    put.owner.route(put.url, {destroyImmediately: true})
    put.next.route(put.url, {status: 204})
    const dPut = dispatcher({methods: ['GET', 'HEAD', 'PUT']})
    const res = await request(put.url, {dispatcher: dPut, method: 'PUT', body: 'twice is fine'})
    expect(res.statusCode).toBe(204)
    await res.body.dump()
    // This URL's request on that peer (the peers are shared with the other tests), and the stand-in peer answers a
    // 204 before it has read the body it records: wait for the record.
    await waitFor(() => put.next.requests.find((q) => q.url === put.url)?.body.toString() === 'twice is fine', {timeoutMs: 2000, message: 'the PUT body reached the next peer'})
  })

  it('never answers: the caller\'s abort ends the request, and it is not sent elsewhere', async () => {
    const d = dispatcher()
    const t = target('hang')
    t.owner.route(t.url, {hang: true})
    const ac = new AbortController()
    const pending = undiciFetch(t.url, {dispatcher: d, signal: ac.signal})
    await t.owner.waitForCount(t.url, 1)
    ac.abort()
    await expect(pending).rejects.toMatchObject({name: 'AbortError'})
    expect(seen(t.url)).toEqual([t.owner.url])
  })

  it('never answers: a headers timeout is the caller\'s answer, not a reason to try another peer', async () => {
    const d = dispatcher({pool: {headersTimeout: 150}})
    const t = target('slow')
    t.owner.route(t.url, {hang: true})
    const err = await request(t.url, {dispatcher: d}).catch((e: unknown) => e)
    expect((err as {code?: string}).code).toBe('UND_ERR_HEADERS_TIMEOUT')
    expect(seen(t.url)).toEqual([t.owner.url])
  })

  it('answers 502: that is the answer, passed on as it is', async () => {
    const d = dispatcher()
    const t = target('bad-gateway')
    t.owner.route(t.url, {status: 502, body: 'origin down'})
    const res = await undiciFetch(t.url, {dispatcher: d})
    expect(res.status).toBe(502)
    expect(await res.text()).toBe('origin down')
    expect(seen(t.url)).toEqual([t.owner.url])
  })
})
