// The plain HTTP/1.1 data-plane listener: a plain port's accept error is survived, a taken port is listen()'s to
// report, and the timeout checks run often enough for the shortest configured timeout.
import type {IncomingMessage, ServerResponse} from 'node:http'

import {expect, it} from 'vitest'

import {connectionsCheckingInterval} from '../../../src/daemon/listeners/http1-server.js'
import {startPlane} from '../../helpers/plane.js'

const ok = (_req: IncomingMessage, res: ServerResponse): void => void res.end('ok')

it('an accept error on a plain listener is a warning, not a crash, and it keeps listening', async () => {
  const p = await startPlane([{address: '127.0.0.1:0'}], ok)
  const front = (p.plane as unknown as {list: Array<{front: import('node:net').Server}>}).list[0]!.front
  const err = Object.assign(new Error('accept EMFILE'), {code: 'EMFILE', syscall: 'accept'})
  expect(() => front.emit('error', err)).not.toThrow()
  expect(p.warnings.map((w) => w.fields.code)).toEqual(['EMFILE'])
  expect(front.listening).toBe(true)
  await p.close()
})

it('a taken port is listen()’s to report (no warning besides)', async () => {
  const first = await startPlane([{address: '127.0.0.1:0'}], ok)
  const warnings: unknown[] = []
  await expect(startPlane([{address: `127.0.0.1:${first.bound[0]!.port}`}], ok, {log: {info: () => {}, warn: (f) => warnings.push(f)}})).rejects.toMatchObject({code: 'EADDRINUSE'})
  expect(warnings).toEqual([])
  await first.close()
})

it('timeouts are checked within a quarter of the shortest one, between 100 ms and 1 s', () => {
  expect(connectionsCheckingInterval({headersTimeout: 60_000, requestTimeout: 300_000})).toBe(1000)
  expect(connectionsCheckingInterval({headersTimeout: 1000, requestTimeout: 10_000})).toBe(250)
  expect(connectionsCheckingInterval({headersTimeout: 200, requestTimeout: 0})).toBe(100)
  expect(connectionsCheckingInterval({headersTimeout: 0, requestTimeout: 0})).toBe(1000)
})
