import {Pool} from 'undici'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {classifyUpstreamError} from '../../../src/proxy/origin/upstream.js'
import {poolTimeoutOptions, TotalTimeoutError, totalDeadline} from '../../../src/proxy/origin/timeouts.js'
import {discardBody} from '../../../src/util/discard.js'
import {type Origin, startOrigin} from '../../helpers/origin.js'

let origin: Origin
beforeAll(async () => {
  origin = await startOrigin()
  // undici checks ttfb and body idle on a coarse (~1 s) timer: the origin pauses well beyond that.
  origin.route('/slow-head', {delayMs: 2500, body: 'late'})
  origin.route('/idle-body', {body: 'abcdef', chunkSize: 2, chunkDelayMs: 2500})
  origin.route('/trickle', {body: 'x'.repeat(20), chunkSize: 1, chunkDelayMs: 50})
  origin.route('/quick', {body: 'ok'})
})
afterAll(() => origin.close())

async function fetchAll(pool: Pool, path: string, signal?: AbortSignal): Promise<string> {
  const res = await pool.request({method: 'GET', path, signal})
  return await res.body.text()
}

describe('origin timeouts', () => {
  it('maps onto undici options', () => {
    expect(poolTimeoutOptions({connectMs: 1000, ttfbMs: 2000, bodyIdleMs: 3000, totalMs: 4000})).toEqual({connect: {timeout: 1000}, headersTimeout: 2000, bodyTimeout: 3000})
  })

  it('time to first byte: a head later than ttfb fails as a timeout', async () => {
    const pool = new Pool(origin.url, poolTimeoutOptions({connectMs: 1000, ttfbMs: 100, bodyIdleMs: 0, totalMs: 0}))
    try {
      const err = await fetchAll(pool, '/slow-head').catch((e: unknown) => e)
      expect(classifyUpstreamError(err).kind).toBe('timeout')
      const patient = new Pool(origin.url, poolTimeoutOptions({connectMs: 1000, ttfbMs: 5000, bodyIdleMs: 0, totalMs: 0}))
      expect(await fetchAll(patient, '/slow-head').finally(() => patient.destroy())).toBe('late')
    } finally {
      await pool.destroy()
    }
  })

  it('body idle: a pause between chunks longer than bodyIdle fails as a timeout', async () => {
    const pool = new Pool(origin.url, poolTimeoutOptions({connectMs: 1000, ttfbMs: 1000, bodyIdleMs: 100, totalMs: 0}))
    try {
      const err = await fetchAll(pool, '/idle-body').catch((e: unknown) => e)
      expect(classifyUpstreamError(err).kind).toBe('timeout')
    } finally {
      await pool.destroy()
    }
  })

  it('total: a body that keeps trickling (never idle) is cut at the deadline, as a timeout', async () => {
    const pool = new Pool(origin.url, poolTimeoutOptions({connectMs: 1000, ttfbMs: 1000, bodyIdleMs: 1000, totalMs: 0}))
    try {
      const d = totalDeadline({totalMs: 300})
      const started = Date.now()
      const res = await pool.request({method: 'GET', path: '/trickle', signal: d.signal})
      d.clearOn(res.body)
      const err = await res.body.text().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TotalTimeoutError)
      expect(classifyUpstreamError(err).kind).toBe('timeout')
      expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    } finally {
      await pool.destroy()
    }
  })

  it('total: a quick exchange clears the deadline; the parent signal still aborts as the client', async () => {
    const pool = new Pool(origin.url, poolTimeoutOptions({connectMs: 1000, ttfbMs: 1000, bodyIdleMs: 1000, totalMs: 0}))
    try {
      const d = totalDeadline({totalMs: 200})
      const res = await pool.request({method: 'GET', path: '/quick', signal: d.signal})
      d.clearOn(res.body)
      expect(await res.body.text()).toBe('ok')
      await new Promise((r) => setTimeout(r, 300))
      expect(d.signal!.aborted).toBe(false)
      const client = new AbortController()
      const d2 = totalDeadline({totalMs: 5000}, client.signal)
      const res2 = await pool.request({method: 'GET', path: '/trickle', signal: d2.signal})
      d2.clearOn(res2.body)
      client.abort()
      const err = await res2.body.text().catch((e: unknown) => e)
      expect(classifyUpstreamError(err).kind).toBe('aborted')
      discardBody(res2.body)
      expect(totalDeadline({totalMs: 0}, client.signal).signal).toBe(client.signal)
    } finally {
      await pool.destroy()
    }
  })
})
