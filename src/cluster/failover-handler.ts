/**
 * The dispatch handler of one request that the client dispatcher may send to several peers in turn: it passes the
 * answer of the attempt that got one to the caller's handler, and offers every earlier failure to `retry` first.
 * A failure is offered only while no response byte has arrived and the caller has not aborted, so the caller sees
 * exactly one request start and one answer (or one error), whichever peer it came from.
 *
 * The caller gets one stable controller for the whole request; it forwards to the current attempt's controller and
 * carries a pause or an abort over to the next attempt.
 */
import type {Duplex} from 'node:stream'

import type {Dispatcher} from 'undici'

type Controller = Dispatcher.DispatchController
type Headers = Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2]

class StableController implements Controller {
  #target: Controller | undefined
  #paused = false
  #reason: Error | undefined

  set target(c: Controller) {
    this.#target = c
    if (this.#reason) c.abort(this.#reason)
    else if (this.#paused) c.pause()
  }

  get aborted(): boolean {
    return this.#reason !== undefined || (this.#target?.aborted ?? false)
  }

  get paused(): boolean {
    return this.#paused
  }

  get reason(): Error | null {
    return this.#reason ?? this.#target?.reason ?? null
  }

  get rawHeaders(): Controller['rawHeaders'] {
    return this.#target?.rawHeaders
  }

  get rawTrailers(): Controller['rawTrailers'] {
    return this.#target?.rawTrailers
  }

  abort(reason: Error): void {
    if (this.#reason) return
    this.#reason = reason
    this.#target?.abort(reason)
  }

  pause(): void {
    this.#paused = true
    this.#target?.pause()
  }

  resume(): void {
    this.#paused = false
    this.#target?.resume()
  }
}

/** What an attempt had done when it failed. */
export interface AttemptState {
  /** The request was handed to a connection (it may have been sent in part or whole). */
  started: boolean
}

/** Take the failure over (send the request elsewhere: true) or leave it to the caller (false). */
export type RetryDecision = (error: Error, attempt: AttemptState) => boolean

export class FailoverHandler implements Dispatcher.DispatchHandler {
  readonly #inner: Dispatcher.DispatchHandler
  readonly #controller = new StableController()
  #retry: RetryDecision = () => false
  #startForwarded = false
  #responded = false
  #attemptStarted = false

  constructor(inner: Dispatcher.DispatchHandler) {
    this.#inner = inner
  }

  /** Called before each attempt is dispatched, with what to do if that attempt fails. */
  attempt(retry: RetryDecision): this {
    this.#attemptStarted = false
    this.#retry = retry
    return this
  }

  /** The caller aborted: nothing more is to be tried. */
  get aborted(): boolean {
    return this.#controller.aborted
  }

  /** Why the caller aborted, if it did. */
  get reason(): Error | null {
    return this.#controller.reason
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.#attemptStarted = true
    this.#controller.target = controller
    if (this.#startForwarded) return
    this.#startForwarded = true
    this.#inner.onRequestStart?.(this.#controller, context)
  }

  onRequestUpgrade(_c: Controller, statusCode: number, headers: Headers, socket: Duplex): void {
    this.#responded = true
    this.#inner.onRequestUpgrade?.(this.#controller, statusCode, headers, socket)
  }

  onResponseStart(_c: Controller, statusCode: number, headers: Headers, statusMessage?: string): void {
    this.#responded = true
    this.#inner.onResponseStart?.(this.#controller, statusCode, headers, statusMessage)
  }

  onResponseData(_c: Controller, chunk: Buffer): void {
    this.#inner.onResponseData?.(this.#controller, chunk)
  }

  onResponseEnd(_c: Controller, trailers: Headers): void {
    this.#inner.onResponseEnd?.(this.#controller, trailers)
  }

  onResponseError(_c: Controller | undefined, error: Error): void {
    if (!this.#responded && !this.#controller.aborted && this.#retry(error, {started: this.#attemptStarted})) return
    this.#inner.onResponseError?.(this.#controller, error)
  }

  /** Deliver an error that happened outside any attempt (a dispatch that threw). */
  fail(error: Error): void {
    this.#inner.onResponseError?.(this.#controller, error)
  }
}
