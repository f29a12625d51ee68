/**
 * systemd's service notifications (sd_notify(3)): READY=1 once the listeners are up (Type=notify), STOPPING=1 when a
 * graceful stop begins, STATUS= lines for `systemctl status`, and WATCHDOG=1 pings at half of $WATCHDOG_USEC.
 *
 * The datagram is sent by `systemd-notify`, not by us: Node cannot open a Unix datagram socket (dgram speaks UDP
 * only), and the npm bindings that can (`unix-dgram`, `sd-notify`) are native add-ons compiled at install time,
 * which needs a compiler (and libsystemd headers) on every host and in the image. systemd-notify ships with systemd
 * itself, so it is there wherever NOTIFY_SOCKET is set by systemd; it speaks every address form systemd uses
 * (path, abstract `@…`, vsock), and since systemd 246 it waits until the manager has read the message (BARRIER=1),
 * so a message is not lost when the short-lived sender is gone before systemd looks it up. Because the sender is
 * another process, the unit needs NotifyAccess=all (examples/systemd/tavern.service); `--pid` names our process as
 * the main PID. One exec per message is cheap at these rates (one per start/stop/reload, one per watchdog period).
 * Without NOTIFY_SOCKET every call is a no-op.
 */
import {spawn} from 'node:child_process'

/** A message never waits longer than this for systemd-notify (it gives up on the manager after 5 s by itself). */
const SEND_TIMEOUT_MS = 10_000
/** At most this much of systemd-notify's stderr is kept for the log. */
const MAX_STDERR = 2048

export interface NotifyLog {
  warn(obj: object, msg: string): void
}

export interface SdNotifierOptions {
  env?: NodeJS.ProcessEnv
  /** The pid systemd should take as the service's main process (default: this process). */
  pid?: number
  /** The helper to run (default `systemd-notify`, found on PATH). */
  command?: string
  log?: NotifyLog
}

/** How often to ping the watchdog, per sd_watchdog_enabled(3): half of WATCHDOG_USEC, if it is meant for `pid`. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC)
  if (!env.WATCHDOG_USEC || !Number.isSafeInteger(usec) || usec <= 0) return undefined
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined
  return Math.max(1, Math.floor(usec / 2000))
}

/** One assignment per line: a value cannot hold a newline (it would start the next assignment). */
function assignment(name: string, value: string | number): string {
  return `${name}=${String(value).replace(/[\r\n]+/g, ' ')}`
}

export class SdNotifier {
  /** NOTIFY_SOCKET is set: a service manager listens. */
  readonly enabled: boolean
  private readonly env: NodeJS.ProcessEnv
  private readonly pid: number
  private readonly command: string
  private readonly log: NotifyLog | undefined
  /** Messages go one at a time, in order (READY before STOPPING). */
  private chain: Promise<unknown> = Promise.resolve()
  /** The helper is not installed: stop trying (warned once). */
  private unavailable = false
  private warnedFailure = false
  private watchdogTimer: NodeJS.Timeout | undefined
  private pingInFlight = false
  /** Messages systemd-notify accepted. */
  sent = 0

  constructor(opts: SdNotifierOptions = {}) {
    this.env = opts.env ?? process.env
    this.pid = opts.pid ?? process.pid
    this.command = opts.command ?? 'systemd-notify'
    this.log = opts.log
    this.enabled = Boolean(this.env.NOTIFY_SOCKET)
  }

  /** Send assignments (`{READY: 1, STATUS: '…'}`) as one message. Resolves true when systemd-notify accepted it. */
  send(fields: Record<string, string | number>): Promise<boolean> {
    if (!this.enabled || this.unavailable) return Promise.resolve(false)
    const args = [`--pid=${this.pid}`, ...Object.entries(fields).map(([k, v]) => assignment(k, v))]
    const next = this.chain.then(() => this.run(args))
    this.chain = next
    return next
  }

  ready(status?: string): Promise<boolean> {
    return this.send(status === undefined ? {READY: 1} : {READY: 1, STATUS: status})
  }

  stopping(status?: string): Promise<boolean> {
    this.stopWatchdog()
    return this.send(status === undefined ? {STOPPING: 1} : {STOPPING: 1, STATUS: status})
  }

  /**
   * RELOADING=1 with MONOTONIC_USEC (what Type=notify-reload wants, systemd ≥ 253; plain Type=notify shows the unit
   * as "reloading"): follow it with ready() when the reload is over, applied or refused.
   */
  reloading(status?: string): Promise<boolean> {
    const usec = (process.hrtime.bigint() / 1000n).toString()
    return this.send(status === undefined ? {RELOADING: 1, MONOTONIC_USEC: usec} : {RELOADING: 1, MONOTONIC_USEC: usec, STATUS: status})
  }

  status(text: string): Promise<boolean> {
    return this.send({STATUS: text})
  }

  /**
   * Ping WATCHDOG=1 at half of WATCHDOG_USEC (WatchdogSec= in the unit) from the event loop, so a loop that stops
   * turning (or a process that hangs) stops the pings and systemd restarts the service. Returns whether it runs.
   */
  startWatchdog(): boolean {
    const every = this.enabled && !this.unavailable ? watchdogIntervalMs(this.env, this.pid) : undefined
    if (every === undefined || this.watchdogTimer) return this.watchdogTimer !== undefined
    const ping = () => {
      // A ping still on its way (systemd busy) is not doubled up.
      if (this.pingInFlight) return
      this.pingInFlight = true
      void this.send({WATCHDOG: 1}).finally(() => (this.pingInFlight = false))
    }
    ping()
    this.watchdogTimer = setInterval(ping, every)
    this.watchdogTimer.unref()
    return true
  }

  stopWatchdog(): void {
    if (this.watchdogTimer) clearInterval(this.watchdogTimer)
    this.watchdogTimer = undefined
  }

  private run(args: string[]): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let stderr = ''
      let settled = false
      // A spawn failure emits 'error' and then 'close' (code -2): report once.
      const settle = (ok: boolean, error?: NodeJS.ErrnoException) => {
        if (settled) return
        settled = true
        if (ok) this.sent++
        else if (error) this.failed(error, stderr)
        resolve(ok)
      }
      let child
      try {
        child = spawn(this.command, args, {stdio: ['ignore', 'ignore', 'pipe'], env: this.env, timeout: SEND_TIMEOUT_MS})
      } catch (error) {
        settle(false, error as Error)
        return
      }
      child.stderr.on('data', (c: Buffer) => {
        if (stderr.length < MAX_STDERR) stderr += c.toString('utf8')
      })
      child.stderr.on('error', () => {})
      child.once('error', (error: NodeJS.ErrnoException) => settle(false, error))
      child.once('close', (code, signal) => settle(code === 0, code === 0 ? undefined : new Error(signal ? `killed by ${signal}` : `exit code ${code}`)))
    })
  }

  private failed(error: NodeJS.ErrnoException, stderr: string): void {
    if (error.code === 'ENOENT') {
      this.unavailable = true
      this.stopWatchdog()
      this.log?.warn(
        {notifySocket: this.env.NOTIFY_SOCKET, command: this.command},
        'NOTIFY_SOCKET is set but systemd-notify is not installed: the service manager is not told that tavern is ready (Type=notify units time out), stopping or alive',
      )
      return
    }
    // One warning, not one per watchdog period.
    if (this.warnedFailure) return
    this.warnedFailure = true
    this.log?.warn({notifySocket: this.env.NOTIFY_SOCKET, err: error.message, stderr: stderr.trim() || undefined}, 'systemd-notify failed; readiness/watchdog messages may not reach the service manager')
  }
}

let shared: SdNotifier | undefined

/** The process's notifier (created on first use, reading process.env). */
export function sdNotifier(log?: NotifyLog): SdNotifier {
  shared ??= new SdNotifier({log})
  return shared
}

/** READY=1 (and a STATUS= line): call once the listeners are up. */
export function notifyReady(status?: string, log?: NotifyLog): Promise<boolean> {
  return sdNotifier(log).ready(status)
}

/** STOPPING=1 (and STATUS=): call when a graceful stop begins; the watchdog pings end. */
export function notifyStopping(status?: string, log?: NotifyLog): Promise<boolean> {
  return sdNotifier(log).stopping(status)
}

/** A STATUS= line for `systemctl status` (after a reload, a refused reload…). */
export function notifyStatus(text: string, log?: NotifyLog): Promise<boolean> {
  return sdNotifier(log).status(text)
}

/** Start the WATCHDOG=1 pings when systemd asked for them (WatchdogSec=); returns whether they run. */
export function startWatchdog(log?: NotifyLog): boolean {
  return sdNotifier(log).startWatchdog()
}
