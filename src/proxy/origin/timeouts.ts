/**
 * Per-group origin timeouts: connect, time to first byte (the response head), body idle (longest gap between two
 * body chunks) and total (whole exchange, head and body). The first three are undici's own; the total is an
 * AbortSignal deadline, whose reason is a TotalTimeoutError (`code: 'ETIMEDOUT'`, so classifyUpstreamError calls it a
 * timeout → 504, not a client abort). 0 turns any of them off.
 *
 * undici runs ttfb and body idle on its coarse timers (checked about twice a second, for speed): they fire up to
 * ~1 s late, so values under a second act as about one second. Connect and total are exact.
 */
import type {Readable} from 'node:stream'

export interface OriginTimeouts {
  connectMs: number
  ttfbMs: number
  bodyIdleMs: number
  totalMs: number
}

export class TotalTimeoutError extends Error {
  override readonly name = 'TimeoutError'
  readonly code = 'ETIMEDOUT'

  constructor(readonly timeoutMs: number) {
    super(`upstream exchange took longer than ${timeoutMs} ms`)
  }
}

/** The undici Pool/Client options for the first three timeouts. */
export function poolTimeoutOptions(t: OriginTimeouts): {connect: {timeout: number}; headersTimeout: number; bodyTimeout: number} {
  return {connect: {timeout: t.connectMs}, headersTimeout: t.ttfbMs, bodyTimeout: t.bodyIdleMs}
}

export interface Deadline {
  /** Pass to the request; combined with the caller's signal. Undefined when there is neither. */
  readonly signal: AbortSignal | undefined
  /** Stop the clock (the exchange is over). */
  clear(): void
  /** Stop the clock when this body closes (ended, failed or destroyed). */
  clearOn(body: Readable): void
}

/**
 * Start the total deadline for one exchange (`totalMs` from now), combined with `parent` (the client's signal). The
 * timer is unref'd and cleared as soon as the exchange ends, so finished exchanges leave nothing behind.
 */
export function totalDeadline(t: Pick<OriginTimeouts, 'totalMs'>, parent?: AbortSignal): Deadline {
  if (!(t.totalMs > 0)) return {signal: parent, clear() {}, clearOn() {}}
  const ac = new AbortController()
  const timer = setTimeout(() => ac.abort(new TotalTimeoutError(t.totalMs)), t.totalMs)
  timer.unref()
  const clear = () => clearTimeout(timer)
  return {
    signal: parent ? AbortSignal.any([parent, ac.signal]) : ac.signal,
    clear,
    clearOn(body) {
      if (body.closed || body.destroyed) clear()
      else body.once('close', clear)
    },
  }
}
