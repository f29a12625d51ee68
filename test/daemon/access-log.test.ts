// The access log writer on its own: line format (escaping, absent fields, times), batching, close and reopen.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterEach, describe, expect, it, vi} from 'vitest'

import {AccessLog} from '../../src/daemon/access-log.js'
import {waitFor} from '../helpers/wait.js'

const dirs: string[] = []
function tempFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-alog-'))
  dirs.push(dir)
  return path.join(dir, 'access.log')
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, {recursive: true, force: true})
})

function lines(file: string): Array<Record<string, unknown>> {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe('AccessLog', () => {
  it('writes one JSON line per request with the documented fields in order, absent ones left out', async () => {
    const file = tempFile()
    const log = new AccessLog(file, (n) => `gen-${n}`)
    await log.ready()
    const before = Date.now()
    log.record('given-id', '127.0.0.1', 'GET', 'example.test:8080', '/a?b=1', 200, 1024, 1.23456, 'hit', undefined, performance.now())
    log.record(7, undefined, 'POST', undefined, '/p', 502, 0, 1500.5, 'error-collapsed', 12.0004, performance.now())
    // `time` is when the request ended (given on the monotonic clock), not when its batch was written.
    log.record('old', undefined, 'GET', undefined, '/o', 200, 0, 0, 'hit', undefined, performance.now() - 60_000)
    await log.close()
    const text = fs.readFileSync(file, 'utf8')
    const [a, b, old] = lines(file)
    expect(Math.abs(Date.parse(old!.time as string) - (before - 60_000))).toBeLessThan(1000)
    expect(Object.keys(a!)).toEqual(['time', 'reqId', 'client', 'method', 'host', 'path', 'status', 'bytes', 'durationMs', 'cache'])
    expect(a).toMatchObject({reqId: 'given-id', client: '127.0.0.1', method: 'GET', host: 'example.test:8080', path: '/a?b=1', status: 200, bytes: 1024, durationMs: 1.235, cache: 'hit'})
    expect(b).toEqual({time: b!.time, reqId: 'gen-7', method: 'POST', path: '/p', status: 502, bytes: 0, durationMs: 1500.5, cache: 'error-collapsed', upstreamMs: 12})
    for (const e of [a!, b!]) {
      expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      const t = Date.parse(e.time as string)
      expect(t).toBeGreaterThanOrEqual(before - 2)
      expect(t).toBeLessThanOrEqual(Date.now() + 2)
    }
    expect(text.endsWith('\n')).toBe(true)
  })

  it('escapes what JSON requires in any string field, so every line still parses', async () => {
    const file = tempFile()
    const log = new AccessLog(file)
    await log.ready()
    const nasty = '/q"x\\y\u0001\u001f\u2028é\ud800'
    log.record('id"1', 'c\\', 'G"T', 'h\nx', nasty, 200, 1, 0, 'miss', 0.0004, performance.now())
    log.record('id2', 'c\\', 'G"T', 'h\nx', '/plain', 200, 1, 0, 'miss', undefined, performance.now())
    await log.close()
    const [a, b] = lines(file)
    expect(a).toMatchObject({reqId: 'id"1', client: 'c\\', method: 'G"T', host: 'h\nx', path: nasty, upstreamMs: 0})
    expect(b).toMatchObject({reqId: 'id2', client: 'c\\', method: 'G"T', host: 'h\nx', path: '/plain'})
  })

  it('formats durations with three decimals at any size, and times to the millisecond across seconds', async () => {
    const file = tempFile()
    const log = new AccessLog(file)
    await log.ready()
    for (const d of [0, 0.0005, 0.9994, 999.9996, 65_432.1, 3_000_000.25]) log.record('x', undefined, 'GET', undefined, '/', 200, 0, d, 'hit', undefined, performance.now())
    await log.close()
    expect(lines(file).map((e) => e.durationMs)).toEqual([0, 0.001, 0.999, 1000, 65_432.1, 3_000_000.25])
  })

  it('writes a full batch without waiting for the timer, and everything on close', async () => {
    const file = tempFile()
    // The flush timer is frozen (fake setInterval), so lines that reach the file came from the full batch itself.
    vi.useFakeTimers({toFake: ['setInterval', 'clearInterval']})
    let log: AccessLog
    try {
      log = new AccessLog(file)
      await log.ready()
      for (let i = 0; i < 256; i++) log.record(`r${i}`, '10.0.0.1', 'GET', 'h', `/k${i}`, 200, i, 0.5, 'hit', undefined, performance.now())
      // 256 entries make a batch; it is written at once, without the timer.
      await waitFor(() => fs.existsSync(file) && lines(file).length >= 256, {message: 'the full batch written without the flush timer'})
      expect(lines(file)).toHaveLength(256)
    } finally {
      vi.useRealTimers()
    }
    for (let i = 0; i < 10; i++) log.record(`s${i}`, '10.0.0.1', 'GET', 'h', `/s${i}`, 200, i, 0.5, 'hit', undefined, performance.now())
    await log.close()
    const all = lines(file)
    expect(all).toHaveLength(266)
    expect(all.map((e) => e.reqId)).toEqual([...Array.from({length: 256}, (_, i) => `r${i}`), ...Array.from({length: 10}, (_, i) => `s${i}`)])
    expect(all[100]).toMatchObject({path: '/k100', bytes: 100})
  })

  it('reopen() after the file was moved away writes later lines to a new file at the path', async () => {
    const file = tempFile()
    const log = new AccessLog(file)
    await log.ready()
    log.record('before', undefined, 'GET', undefined, '/1', 200, 0, 0, 'hit', undefined, performance.now())
    await waitFor(() => fs.existsSync(file) && lines(file).length === 1, {message: 'the flush timer writing "before"'})
    fs.renameSync(file, `${file}.1`)
    log.reopen()
    log.record('after', undefined, 'GET', undefined, '/2', 200, 0, 0, 'hit', undefined, performance.now())
    await log.close()
    expect(lines(`${file}.1`).map((e) => e.reqId)).toEqual(['before'])
    expect(lines(file).map((e) => e.reqId)).toEqual(['after'])
  })
})

describe('AccessLog file mode', () => {
  it('creates the file 0640 even under umask 000, and leaves an existing file its mode', async () => {
    const file = tempFile()
    const previous = process.umask(0)
    try {
      const log = new AccessLog(file)
      await log.ready()
      await log.close()
    } finally {
      process.umask(previous)
    }
    expect(fs.statSync(file).mode & 0o777).toBe(0o640)
    fs.chmodSync(file, 0o600)
    const again = new AccessLog(file)
    await again.ready()
    await again.close()
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
  })
})
