// The data-plane listener keeps an 'error' listener for its whole life: an accept error after listening (EMFILE,
// ENFILE) is reported and survived, never an unhandled 'error' event that ends the process.
import {afterEach, expect, it} from 'vitest'

import {ConfigSchema} from '../../src/config/schema.js'
import {connectionsCheckingInterval, DataPlane} from '../../src/daemon/data-plane.js'

const server = ConfigSchema.parse({}).server
let plane: DataPlane | undefined

afterEach(async () => {
  await plane?.drain(0)
  plane = undefined
})

it('an accept error after listening is reported to onWarning, not thrown', async () => {
  const warnings: Array<Record<string, unknown>> = []
  plane = new DataPlane((_req, res) => res.end('ok'), server, {maxConnections: 10, onWarning: (fields) => warnings.push(fields)})
  await plane.listen('127.0.0.1:0')
  const err = Object.assign(new Error('accept EMFILE'), {code: 'EMFILE', syscall: 'accept'})
  expect(() => plane!.server.emit('error', err)).not.toThrow()
  expect(warnings.map((w) => w.code)).toEqual(['EMFILE'])
  expect(plane.server.listening).toBe(true)
})

it('a listen error is listen()’s to report (no warning besides)', async () => {
  const first = new DataPlane((_req, res) => res.end('ok'), server, {maxConnections: 10})
  const {port} = await first.listen('127.0.0.1:0')
  const warnings: unknown[] = []
  plane = new DataPlane((_req, res) => res.end('ok'), server, {maxConnections: 10, onWarning: (f) => warnings.push(f)})
  await expect(plane.listen(`127.0.0.1:${port}`)).rejects.toMatchObject({code: 'EADDRINUSE'})
  expect(warnings).toEqual([])
  plane = undefined
  await first.drain(0)
})

it('timeouts are checked within a quarter of the shortest one, between 100 ms and 1 s', () => {
  expect(connectionsCheckingInterval({headersTimeout: 60_000, requestTimeout: 300_000})).toBe(1000)
  expect(connectionsCheckingInterval({headersTimeout: 1000, requestTimeout: 10_000})).toBe(250)
  expect(connectionsCheckingInterval({headersTimeout: 200, requestTimeout: 0})).toBe(100)
  expect(connectionsCheckingInterval({headersTimeout: 0, requestTimeout: 0})).toBe(1000)
})
