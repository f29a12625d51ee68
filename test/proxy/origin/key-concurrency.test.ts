import {describe, expect, it} from 'vitest'

import {AdmissionError, KeyConcurrency, Slots} from '../../../src/proxy/origin/key-concurrency.js'

const settled = async <T>(p: Promise<T>): Promise<'pending' | 'resolved' | 'rejected'> => {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending'
  p.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  )
  await new Promise((r) => setImmediate(r))
  return state
}

describe('Slots', () => {
  it('grants up to the limit, then queues in order', async () => {
    const s = new Slots(2, 10)
    const a = await s.take(1000, 'x')
    const b = await s.take(1000, 'x')
    const c = s.take(1000, 'x')
    const d = s.take(1000, 'x')
    expect(await settled(c)).toBe('pending')
    expect(s.waiting).toBe(2)
    a()
    expect(await settled(c)).toBe('resolved')
    expect(await settled(d)).toBe('pending')
    b()
    b() // a second release is a no-op
    expect(await settled(d)).toBe('resolved')
    expect(s.active).toBe(2)
  })

  it('refuses when the queue is full, and times out a waiter', async () => {
    const s = new Slots(1, 1)
    await s.take(1000, 'x')
    const waiting = s.take(30, 'x')
    await expect(s.take(1000, 'x')).rejects.toMatchObject({reason: 'queue-full'})
    await expect(waiting).rejects.toBeInstanceOf(AdmissionError)
    await expect(waiting).rejects.toMatchObject({reason: 'timeout'})
    expect(s.waiting).toBe(0)
  })

  it('a waiter whose signal aborts leaves the queue; the next one gets the slot', async () => {
    const s = new Slots(1, 10)
    const first = await s.take(1000, 'x')
    const ac = new AbortController()
    const gone = s.take(1000, 'x', ac.signal)
    const next = s.take(1000, 'x')
    ac.abort()
    await expect(gone).rejects.toMatchObject({reason: 'aborted'})
    first()
    expect(await settled(next)).toBe('resolved')
  })

  it('many waiters that gave up do not pile up', async () => {
    const s = new Slots(1, 100_000)
    await s.take(1000, 'x')
    const ps = Array.from({length: 2000}, () => s.take(1, 'x').catch(() => undefined))
    await Promise.all(ps)
    expect(s.waiting).toBe(0)
    expect((s as unknown as {queue: unknown[]}).queue.length).toBeLessThan(200)
  })
})

describe('KeyConcurrency', () => {
  it('bounds each key on its own and forgets idle keys', async () => {
    const k = new KeyConcurrency({perKey: 1, queue: 4, timeoutMs: 1000})
    const a = await k.acquire('a')
    const b = await k.acquire('b')
    const a2 = k.acquire('a')
    expect(await settled(a2)).toBe('pending')
    a()
    ;(await a2)()
    b()
    expect(k.size).toBe(0)
  })
})
