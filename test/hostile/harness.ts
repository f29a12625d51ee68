/**
 * One raw origin + one daemon per test file, with the checks every hostile case ends with: the daemon still
 * answers a control request quickly, and (optionally) nothing wrong was stored for the case's URL.
 *
 * A case that kills or wedges the daemon fails; the next case gets a fresh daemon (new storage), so one crash does
 * not hide the results of the cases after it.
 */
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, expect} from 'vitest'

import {type DaemonHandle, startDaemon} from '../helpers/daemon.js'
import {describeRaw, rawRequest, type RawExchangeOptions, type RawResponse} from '../helpers/raw-client.js'
import {resp, startRawOrigin, type RawOrigin} from '../helpers/raw-origin.js'

/** The Host every hostile request sends, so cache keys (and admin URLs) do not depend on the daemon's port. */
export const HOST = 'hostile.test'

let counter = 0
const runId = Math.random().toString(36).slice(2, 7)
export function casePath(name: string): string {
  counter++
  return `/${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 40)}-${runId}-${counter}`
}

export interface Hostile {
  origin: RawOrigin
  /** The live daemon (restarted after a case killed or wedged it). */
  d: DaemonHandle
  restarts: number
  /** Start a new daemon when the current one is gone or does not answer. */
  ensure(): Promise<DaemonHandle>
  /** After a request that got no answer: whether the daemon exited (waits up to `ms` for it). */
  died(ms?: number): Promise<boolean>
  request(method: string, target: string, headers?: readonly string[], opts?: RawExchangeOptions & {body?: string | Buffer}): Promise<RawResponse>
  /** Fails unless the daemon answers a control request (another path) with 200 within `ms`. */
  control(ms?: number): Promise<void>
  /** GET /keys/inspect for a path on HOST. */
  inspect(path: string, headers?: string[]): Promise<InspectReply>
}

export interface InspectReply {
  stored: boolean
  key: string
  variants: Array<{variant: string; status: number; size: number; headers: Array<[string, string]>; validators: {etag?: string; lastModified?: string}; crc32c: string; file: string}>
}

export function alive(d: DaemonHandle): boolean {
  return d.process.exitCode === null && d.process.signalCode === null
}

export function useHostile(config: Record<string, unknown> = {}): Hostile {
  const h = {restarts: 0} as Hostile
  let wedged = false
  const start = () => startDaemon({upstream: h.origin.url, config})
  beforeAll(async () => {
    h.origin = await startRawOrigin()
    h.d = await start()
  }, 30_000)
  afterAll(async () => {
    if (h.d && alive(h.d)) await h.d.stop('SIGTERM', 10_000)
    await h.origin?.close()
  }, 30_000)

  const probe = async (): Promise<boolean> => {
    const p = casePath('probe')
    h.origin.route(p, [{write: resp(200, ['Cache-Control', 'no-store'], 'control')}])
    const r = await h.request('GET', p, [], {timeoutMs: 2000})
    return r.status === 200 && r.body.toString() === 'control'
  }
  h.ensure = async () => {
    if (!alive(h.d) || wedged || !(await probe())) {
      if (alive(h.d)) await h.d.kill9()
      wedged = false
      h.restarts++
      h.d = await start()
    }
    return h.d
  }
  h.died = async (ms = 1500) => {
    if (!alive(h.d)) return true
    return Promise.race([h.d.exited.then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), ms))])
  }
  h.request = (method, target, headers = [], opts = {}) => rawRequest(h.d.port, method, target, ['Host', HOST, ...headers], opts)
  h.control = async (ms = 3000) => {
    const p = casePath('control')
    h.origin.route(p, [{write: resp(200, ['Cache-Control', 'no-store'], 'control')}])
    const r = await h.request('GET', p, [], {timeoutMs: ms})
    if (!alive(h.d)) {
      wedged = true
      const e = await h.d.exited
      expect.fail(`the daemon died (code ${e.code}, signal ${e.signal})\n--- last logs ---\n${h.d.logs().slice(-3000)}`)
    }
    if (r.status !== 200 || r.body.toString() !== 'control') {
      wedged = true
      // A crash in progress looks alive for a moment: give it time to exit, so the report says which it was.
      const exited = await Promise.race([h.d.exited.then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), 2000))])
      if (exited) expect.fail(`the daemon died (control request: ${describeRaw(r)})\n--- last logs ---\n${h.d.logs().slice(-3000)}`)
      expect.fail(`the daemon is alive but did not answer a control request within ${ms} ms: ${describeRaw(r)}\n--- last logs ---\n${h.d.logs().slice(-2000)}`)
    }
  }
  h.inspect = async (path, headers = []) => {
    const q = new URLSearchParams({url: `http://${HOST}${path}`})
    for (let i = 0; i < headers.length; i += 2) q.append('h', `${headers[i]}: ${headers[i + 1]}`)
    const r = await h.d.admin(`/keys/inspect?${q.toString()}`)
    expect(r.status, r.text).toBe(200)
    return JSON.parse(r.text) as InspectReply
  }
  return h
}

/** Bytes of the representation (status 200) or the part of it (206 + Content-Range) in `r`, checked against `full`. */
export function expectBytesOf(r: RawResponse, full: Buffer, what = 'response'): void {
  if (r.status === 200) {
    expect(r.body.equals(full), `${what}: 200 body differs from the representation: ${describeRaw(r)}`).toBe(true)
    return
  }
  expect(r.status, `${what}: ${describeRaw(r)}`).toBe(206)
  const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(r.header('content-range') ?? '')
  expect(cr, `${what}: 206 without a usable Content-Range: ${r.header('content-range')}`).not.toBeNull()
  const start = Number(cr![1])
  const end = Number(cr![2])
  if (cr![3] !== '*') expect(Number(cr![3]), `${what}: total length`).toBe(full.length)
  expect(r.body.equals(full.subarray(start, end + 1)), `${what}: 206 bytes ${start}-${end} differ from the representation: ${describeRaw(r)}`).toBe(true)
}

/** A body of `n` bytes that differs for every seed (so versions and offsets are told apart). */
export function payload(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8) * 7 + seed * 13) & 0xff
  return b
}

/** Regular files under `<storage>/objects` (body files of complete and partial objects, and any orphans). */
export function objectFiles(storageDir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    let entries: fs.Dirent[]
    try {
      entries = fs.readdirSync(d, {withFileTypes: true})
    } catch {
      return
    }
    for (const e of entries) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) out.push(p)
    }
  }
  walk(path.join(storageDir, 'objects'))
  return out
}

/**
 * Poll until every file under objects/ belongs to an index record (files = objects + partials per /status), or the
 * time is up. Returns the last counts seen.
 */
export async function waitNoOrphans(d: DaemonHandle, timeoutMs: number): Promise<{files: number; objects: number; partials: number}> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const s = await d.status()
    const files = objectFiles(d.storageDir).length
    const objects = s.storage.objects
    const partials = Number(s.storage.partials ?? 0)
    if (files === objects + partials || Date.now() > end) return {files, objects, partials}
    await new Promise((r) => setTimeout(r, 250))
  }
}
