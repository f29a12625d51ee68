/**
 * Admission to the origin: a bounded number of concurrent origin requests per cache key (so one slow URL cannot take
 * every upstream connection) and per upstream (so nobody waits for a pool connection without a bound). Requests over
 * a limit wait in a bounded FIFO queue for at most a timeout, then fail with an AdmissionError (answered 503 with
 * Retry-After by the callers). A slot is held until the origin exchange is over (its body closed).
 */

/** Why a request was not admitted. */
export class AdmissionError extends Error {
  constructor(
    readonly reason: 'queue-full' | 'timeout' | 'aborted',
    message: string,
  ) {
    super(message)
    this.name = 'AdmissionError'
  }
}

export type Release = () => void

interface Waiter {
  grant: (r: Release) => void
  fail: (e: AdmissionError) => void
  /** Set once the waiter got a slot or gave up (it stays in the queue array until shifted). */
  done: boolean
}

/** A counting semaphore with a bounded FIFO queue and a wait timeout. */
export class Slots {
  private running = 0
  private queue: Waiter[] = []
  private head = 0
  /** Waiters in the queue that still wait (the others are skipped when their turn comes). */
  private live = 0

  constructor(
    private readonly limit: number,
    private readonly maxQueue: number,
  ) {}

  get active(): number {
    return this.running
  }

  get waiting(): number {
    return this.live
  }

  get idle(): boolean {
    return this.running === 0 && this.waiting === 0
  }

  /** A slot now, or after waiting in line at most `timeoutMs`. `what` names the limit in error messages. */
  take(timeoutMs: number, what: string, signal?: AbortSignal): Promise<Release> {
    if (this.running < this.limit && this.waiting === 0) return Promise.resolve(this.grant())
    if (signal?.aborted) return Promise.reject(new AdmissionError('aborted', 'request aborted while waiting for the origin'))
    if (this.waiting >= this.maxQueue) return Promise.reject(new AdmissionError('queue-full', `too many requests waiting for ${what}`))
    return new Promise<Release>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const onAbort = () => w.fail(new AdmissionError('aborted', 'request aborted while waiting for the origin'))
      const cleanup = () => {
        w.done = true
        this.live--
        if (timer) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const w: Waiter = {
        done: false,
        grant: (r) => {
          cleanup()
          resolve(r)
        },
        fail: (e) => {
          if (w.done) return
          cleanup()
          this.dropGivenUp()
          reject(e)
        },
      }
      timer = setTimeout(() => w.fail(new AdmissionError('timeout', `waited ${timeoutMs} ms for ${what}`)), timeoutMs)
      timer.unref()
      signal?.addEventListener('abort', onAbort, {once: true})
      this.queue.push(w)
      this.live++
    })
  }

  /** Waiters that gave up stay in the array until their turn; drop them when they dominate (a stuck key). */
  private dropGivenUp(): void {
    if (this.queue.length - this.head < 2 * this.live + 64) return
    this.queue = this.queue.slice(this.head).filter((w) => !w.done)
    this.head = 0
  }

  private grant(): Release {
    this.running++
    let released = false
    return () => {
      if (released) return
      released = true
      this.running--
      this.pump()
    }
  }

  private pump(): void {
    while (this.running < this.limit && this.head < this.queue.length) {
      const w = this.queue[this.head]!
      this.queue[this.head++] = undefined as unknown as Waiter
      if (!w.done) w.grant(this.grant())
    }
    if (this.live === 0) {
      this.queue.length = 0
      this.head = 0
    } else if (this.head > 64 && this.head * 2 > this.queue.length) {
      // Compact once the consumed prefix dominates (amortised O(1) per waiter).
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }
}

export interface KeyConcurrencyOptions {
  /** Concurrent origin requests one key may have. */
  perKey: number
  /** Requests one key may have waiting. */
  queue: number
  /** Longest wait for a key's slot. */
  timeoutMs: number
}

/** Per-cache-key origin concurrency (Slots per key, created on demand, dropped when idle). */
export class KeyConcurrency {
  private readonly keys = new Map<string, Slots>()

  constructor(private readonly opts: KeyConcurrencyOptions) {}

  /** Number of keys with requests running or waiting (for status/tests). */
  get size(): number {
    return this.keys.size
  }

  async acquire(key: string, signal?: AbortSignal): Promise<Release> {
    let s = this.keys.get(key)
    if (!s) {
      s = new Slots(this.opts.perKey, this.opts.queue)
      this.keys.set(key, s)
    }
    const slots = s
    let release: Release
    try {
      release = await slots.take(this.opts.timeoutMs, "this URL's share of upstream connections", signal)
    } catch (error) {
      this.forgetIfIdle(key, slots)
      throw error
    }
    return () => {
      release()
      this.forgetIfIdle(key, slots)
    }
  }

  private forgetIfIdle(key: string, s: Slots): void {
    if (s.idle && this.keys.get(key) === s) this.keys.delete(key)
  }
}
