import fs from 'node:fs'

/** Write errors after which the descriptor will never take our lines again (reader gone, descriptor closed). */
const BROKEN = new Set(['EPIPE', 'EBADF', 'ECONNRESET', 'ENOTCONN', 'ESHUTDOWN', 'EDESTADDRREQ', 'EINVAL'])
/** A full non-blocking pipe (EAGAIN) is retried after this long, without blocking anything meanwhile. */
const RETRY_MS = 50
/** Unwritten text kept for a stalled reader; beyond this, lines are dropped and counted (memory stays bounded). */
const MAX_QUEUED = 16 * 1024 * 1024
/** Largest single write (one syscall); more waits for the next one. */
const MAX_WRITE = 256 * 1024

const sleeper = new Int32Array(new SharedArrayBuffer(4))
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms)
}

/**
 * The daemon's stdout: a pino destination (`write(line)`) that never blocks the event loop and never lets a dead or
 * stalled reader hang or crash the process. Not SonicBoom (`pino.destination`), because that one's `flushSync()`,
 * which pino's `fatal()` and its exit hook call, retries EPIPE forever (100 ms sleeps on the main thread: the daemon
 * ignored SIGTERM), its `flush(cb)` does not wait for pending writes, and a non-EPIPE error without a listener is a
 * crash.
 *
 * - Lines are queued and written with asynchronous `fs.write` calls, one at a time, in order.
 * - EAGAIN (a non-blocking pipe that is full) is retried on a timer; EPIPE/EBADF (reader gone) stops writing for good
 *   (`broken`), and the daemon keeps running; other errors (ENOSPC on a file) drop that chunk and carry on.
 * - At most MAX_QUEUED of text waits; beyond that lines are dropped (`dropped`).
 * - `drain(ms)` waits, bounded, for the queue to empty (graceful exit); `writeFinalSync(text, ms)` writes what is
 *   queued plus a last line synchronously with a time budget (the last-resort handler, where no callback runs again).
 *
 * For a pipe or socket on fd 1, touching `process.stdout` first makes libuv set O_NONBLOCK on it (see
 * `makeNonBlocking`), so no write of ours can park a thread-pool thread on a reader that stopped reading: process exit
 * joins those threads, and one stuck in write(2) would wedge the exit.
 */
export class LogDestination {
  private queue: string[] = []
  private queuedChars = 0
  /** Bytes handed to the current write (set while a write or its EAGAIN retry is outstanding). */
  private current: Buffer | undefined
  /** True while an fs.write call is in the thread pool (its callback has not run). */
  private writing = false
  private retryTimer: NodeJS.Timeout | undefined
  private idleWaiters: Array<() => void> = []
  /** The error code that stopped all writing (reader gone), if any. */
  broken: string | undefined
  /** Lines (or chunks) dropped: queue full, or a write that failed. */
  dropped = 0

  constructor(readonly fd: number) {}

  /** pino calls this with one serialized line. Returns false when the text was dropped. */
  write(text: string): boolean {
    if (this.broken !== undefined) return false
    if (this.queuedChars + text.length > MAX_QUEUED) {
      this.dropped++
      return false
    }
    this.queue.push(text)
    this.queuedChars += text.length
    if (this.current === undefined) this.next()
    return true
  }

  /** Nothing queued and no write outstanding. */
  get idle(): boolean {
    return this.current === undefined && this.queue.length === 0
  }

  /** A write call is inside the thread pool right now (a blocking descriptor could keep it there). */
  get writeInProgress(): boolean {
    return this.writing
  }

  /** pino's `logger.flush(cb)`: cb once everything queued so far is written (or given up). Unbounded: prefer drain(). */
  flush(cb?: (err?: Error) => void): void {
    if (this.idle || this.broken !== undefined) cb?.()
    else this.idleWaiters.push(() => cb?.())
  }

  /** Wait until the queue is written, at most `timeoutMs`. Resolves true when it emptied (or writing had stopped). */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.idle || this.broken !== undefined) return Promise.resolve(true)
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      this.idleWaiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  private next(): void {
    if (this.queue.length === 0 || this.broken !== undefined) {
      this.current = undefined
      for (const w of this.idleWaiters.splice(0)) w()
      return
    }
    // As many queued lines as fit in one write (at least one), taken off the queue in one splice.
    let n = 0
    let size = 0
    while (n < this.queue.length && (n === 0 || size + this.queue[n]!.length <= MAX_WRITE)) size += this.queue[n++]!.length
    const text = n === 1 ? this.queue.shift()! : this.queue.splice(0, n).join('')
    this.queuedChars -= text.length
    this.writeOut(Buffer.from(text))
  }

  private writeOut(buf: Buffer): void {
    this.current = buf
    this.writing = true
    fs.write(this.fd, buf, 0, buf.length, null, (err, written) => {
      this.writing = false
      if (err) {
        if (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK') {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined
            this.writeOut(buf)
          }, RETRY_MS)
          this.retryTimer.unref()
          return
        }
        if (BROKEN.has(err.code ?? '')) {
          this.stop(err.code ?? 'EPIPE')
          return
        }
        this.dropped++
        this.next()
        return
      }
      if (written < buf.length) this.writeOut(buf.subarray(written))
      else this.next()
    })
  }

  /** Stop writing for good (reader gone): drop the queue and release anyone waiting for it. */
  private stop(code: string): void {
    this.broken = code
    this.dropped += this.queue.length
    this.queue = []
    this.queuedChars = 0
    this.current = undefined
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    for (const w of this.idleWaiters.splice(0)) w()
  }

  /**
   * Last words, for a process about to be killed: write what is queued, then `line`, synchronously, giving up after
   * `budgetMs` (a full pipe is retried in short sleeps; a broken one is skipped). A chunk already inside the thread
   * pool is left to finish there, and given a moment first so the order holds. Never throws.
   */
  writeFinalSync(line: string, budgetMs: number): boolean {
    if (this.broken !== undefined) return false
    const deadline = Date.now() + budgetMs
    if (this.writing) sleepSync(Math.min(20, budgetMs))
    const pending = (!this.writing && this.current ? this.current.toString('utf8') : '') + this.queue.join('')
    this.queue = []
    this.queuedChars = 0
    return writeSyncWithin(this.fd, pending + line, deadline)
  }
}

/** fs.writeSync of all of `text` before `deadline` (EAGAIN retried in 5 ms sleeps). False when it gave up or failed. */
export function writeSyncWithin(fd: number, text: string, deadline: number): boolean {
  let buf = Buffer.from(text)
  while (buf.length > 0) {
    try {
      const n = fs.writeSync(fd, buf)
      buf = buf.subarray(n)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if ((code === 'EAGAIN' || code === 'EWOULDBLOCK') && Date.now() < deadline) {
        sleepSync(5)
        continue
      }
      return false
    }
  }
  return true
}

/**
 * Make fd 1 and fd 2 non-blocking when they are pipes or sockets: creating `process.stdout`/`process.stderr` opens
 * them as libuv pipes, which sets O_NONBLOCK (terminals are reopened by libuv; files never block for long). Also gives
 * both streams an 'error' listener, so an EPIPE on something written through them is not a crash.
 */
export function makeStdioNonBlocking(): void {
  for (const s of [process.stdout, process.stderr]) {
    if (s.listenerCount('error') === 0) s.on('error', () => {})
  }
}
