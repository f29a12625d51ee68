/**
 * Bounded polling, so a test waits for what it asserts instead of sleeping a fixed time.
 *
 *   await waitFor(() => fs.existsSync(f))                                  // until fn returns something truthy
 *   const s = await waitFor(async () => { const s = await d.status(); return s.storage.objects === 0 && s })
 *   await eventually(() => expect(origin.countFor(p)).toBe(2))             // until the assertion passes
 *
 * A throw from `fn` in waitFor counts as "not yet". On timeout both throw, naming `message` and the last value or
 * error (eventually rethrows the assertion's own failure, so the test output shows the expected/actual values).
 */
export interface WaitForOptions {
  /** Give up after this long (default 5000 ms). */
  timeoutMs?: number
  /** Pause between attempts (default 20 ms). */
  intervalMs?: number
  /** What the wait is for, for the timeout error. */
  message?: string
}

export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitForOptions = {}): Promise<Exclude<T, false | undefined | null | 0 | ''>> {
  const timeoutMs = opts.timeoutMs ?? 5000
  const intervalMs = opts.intervalMs ?? 20
  const end = Date.now() + timeoutMs
  let last: unknown
  let lastError: unknown
  for (;;) {
    try {
      const v = await fn()
      lastError = undefined
      if (v) return v as Exclude<T, false | undefined | null | 0 | ''>
      last = v
    } catch (error) {
      lastError = error
    }
    if (Date.now() >= end) {
      const what = opts.message ?? 'condition'
      const detail = lastError !== undefined ? `last error: ${lastError instanceof Error ? lastError.message : String(lastError)}` : `last value: ${JSON.stringify(last)}`
      const e = new Error(`waitFor: ${what} not met within ${timeoutMs} ms (${detail})`)
      if (lastError instanceof Error) e.cause = lastError
      throw e
    }
    await new Promise<void>((r) => setTimeout(r, intervalMs))
  }
}

/** Retry an assertion block until it passes (bounded); rethrows its last failure on timeout. */
export async function eventually(fn: () => void | Promise<void>, opts: WaitForOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 5000
  const intervalMs = opts.intervalMs ?? 20
  const end = Date.now() + timeoutMs
  for (;;) {
    try {
      await fn()
      return
    } catch (error) {
      if (Date.now() >= end) throw error
    }
    await new Promise<void>((r) => setTimeout(r, intervalMs))
  }
}
