/**
 * Session ticket keys shared by every secure context of the process (all listeners, every SNI certificate, every
 * certificate generation), so a client resumes its session after a certificate rotation, on another SNI name of the
 * same listener, or on another TLS listener. Replaced every `rotationMs`; a replacement makes older tickets
 * unusable (Node holds one key at a time), and those clients do one full handshake.
 *
 * The key is 48 random bytes (Node's format: 16 name + 16 HMAC + 16 AES). With several worker processes, the primary
 * makes the keys and hands them to the workers with `set()` so a ticket from one is good on all.
 */
import {randomBytes} from 'node:crypto'

export const TICKET_KEY_BYTES = 48

export class TicketKeys {
  private key: Buffer
  private timer: NodeJS.Timeout | undefined
  private readonly listeners = new Set<(key: Buffer) => void>()

  constructor(
    private readonly rotationMs: number,
    key: Buffer = randomBytes(TICKET_KEY_BYTES),
  ) {
    this.key = TicketKeys.check(key)
  }

  private static check(key: Buffer): Buffer {
    if (key.length !== TICKET_KEY_BYTES) throw new RangeError(`session ticket keys are ${TICKET_KEY_BYTES} bytes, got ${key.length}`)
    return key
  }

  get current(): Buffer {
    return this.key
  }

  /** Rotate every rotationMs from now on (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return
    this.timer = setInterval(() => this.set(randomBytes(TICKET_KEY_BYTES)), this.rotationMs)
    this.timer.unref()
  }

  /** Replace the key now and tell every subscriber (each rebuilds its contexts with it). */
  set(key: Buffer): void {
    this.key = TicketKeys.check(key)
    for (const fn of this.listeners) {
      try {
        fn(this.key)
      } catch {
        // one subscriber's failure must not keep the others on the old key
      }
    }
  }

  rotate(): void {
    this.set(randomBytes(TICKET_KEY_BYTES))
  }

  /** Called with the new key after every replacement; returns the unsubscribe function. */
  subscribe(fn: (key: Buffer) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }
}
