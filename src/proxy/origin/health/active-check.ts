/**
 * Active health checks (HAProxy `check`, nginx Plus `health_check`): every `intervalMs` each member gets an HTTP probe
 * (`method path`, with the configured Host) on a connection of its own — not one of the traffic pool's, so a full
 * pool cannot fail a probe and a probe never queues behind traffic. A probe passes when the answer's status is in
 * `expectStatus` within `timeoutMs`; `fall` failures in a row take a member down, `rise` passes in a row bring it back.
 * Each change is reported once through `onChange`. Probes run on the BackgroundRunner; `stop()` cancels them.
 */
import {Agent} from 'undici'

import {BackgroundRunner} from '../../../core/background.js'
import {discardBody} from '../../../util/discard.js'

export interface ProbeTarget {
  name: string
  /** Base URL of the member (origin and optional base path, as in `upstreams[].url`). */
  url: string
}

export interface HealthCheckOptions {
  /** Request target of the probe, appended to the member's base path. */
  path: string
  method: 'GET' | 'HEAD'
  /** Host header of the probe (default: the member URL's host). */
  host?: string
  headers?: Readonly<Record<string, string>>
  intervalMs: number
  timeoutMs: number
  /** Inclusive status ranges that pass, e.g. [[200, 399]]. */
  expectStatus: ReadonlyArray<readonly [number, number]>
  rise: number
  fall: number
  /** State before the first probes decide: `up` (traffic flows at start) or `down` (wait for `rise` passes). */
  initial: 'up' | 'down'
}

export interface HealthChange {
  member: string
  up: boolean
  at: number
  reason: string
}

export interface HealthMemberSnapshot {
  name: string
  up: boolean
  /** Passes / failures in a row. */
  passes: number
  failures: number
  checks: number
  lastStatus?: number
  lastError?: string
  lastLatencyMs?: number
  lastCheckAt?: number
}

export interface ActiveHealthCheckDeps {
  background?: BackgroundRunner
  onChange?: (change: HealthChange) => void
  /** Every probe's verdict (after the state it changed): for callers that keep a state of their own on top. */
  onProbe?: (member: string, passed: boolean) => void
  /** Clock for the snapshot times (default Date.now). */
  now?: () => number
}

const STOPPED = new Error('health checks stopped')

interface MemberCheck {
  target: ProbeTarget
  origin: string
  path: string
  host: string
  snap: HealthMemberSnapshot
  timer?: NodeJS.Timeout
  abort?: AbortController
  running?: Promise<void>
}

export class ActiveHealthCheck {
  private readonly members = new Map<string, MemberCheck>()
  private readonly agent: Agent
  private readonly background: BackgroundRunner
  private readonly clock: () => number
  private running = false

  constructor(
    targets: readonly ProbeTarget[],
    private readonly opts: HealthCheckOptions,
    private readonly deps: ActiveHealthCheckDeps = {},
  ) {
    if (!(opts.rise >= 1 && opts.fall >= 1)) throw new RangeError('rise and fall must be >= 1')
    if (!(opts.intervalMs > 0 && opts.timeoutMs > 0)) throw new RangeError('intervalMs and timeoutMs must be > 0')
    this.background = deps.background ?? new BackgroundRunner()
    this.clock = deps.now ?? Date.now
    // One connection per member, closed after each probe (see probe()): every probe connects afresh.
    this.agent = new Agent({connections: 1, pipelining: 1, connect: {timeout: opts.timeoutMs}, headersTimeout: 0, bodyTimeout: 0})
    for (const t of targets) {
      const u = new URL(t.url)
      this.members.set(t.name, {
        target: t,
        origin: u.origin,
        path: u.pathname.replace(/\/+$/, '') + opts.path,
        host: opts.host ?? u.host,
        snap: {name: t.name, up: opts.initial === 'up', passes: 0, failures: 0, checks: 0},
      })
    }
  }

  isUp(name: string): boolean {
    return this.members.get(name)?.snap.up ?? false
  }

  snapshot(): HealthMemberSnapshot[] {
    return [...this.members.values()].map((m) => ({...m.snap}))
  }

  /** Probe every member now, then every interval. */
  start(): void {
    if (this.running) return
    this.running = true
    for (const m of this.members.values()) this.schedule(m, 0)
  }

  /** Stop probing: timers cleared, probes in progress aborted and awaited, connections closed. */
  async stop(): Promise<void> {
    this.running = false
    const waits: Array<Promise<void>> = []
    for (const m of this.members.values()) {
      clearTimeout(m.timer)
      m.timer = undefined
      m.abort?.abort(STOPPED)
      if (m.running) waits.push(m.running)
    }
    await Promise.all(waits)
    await this.agent.close().catch(() => this.agent.destroy())
  }

  /** One probe of every member (or of `name`) now, awaited: for tests and an admin "check now". */
  async checkNow(name?: string): Promise<void> {
    const ms = name === undefined ? [...this.members.values()] : [this.members.get(name)].filter((m): m is MemberCheck => m !== undefined)
    await Promise.all(ms.map((m) => this.runProbe(m)))
  }

  private schedule(m: MemberCheck, delayMs: number): void {
    if (!this.running) return
    m.timer = setTimeout(() => {
      m.timer = undefined
      void this.runProbe(m).then(() => {
        // Up to 10 % jitter, so members (and nodes) do not probe in lockstep.
        this.schedule(m, this.opts.intervalMs * (1 + Math.random() * 0.1))
      })
    }, delayMs)
    m.timer.unref()
  }

  /** Run one probe on the background runner (never rejects); one at a time per member. */
  private runProbe(m: MemberCheck): Promise<void> {
    if (m.running) return m.running
    const p = this.background.run('health-check', () => this.probe(m)).then(() => {
      m.running = undefined
    })
    m.running = p
    return p
  }

  private async probe(m: MemberCheck): Promise<void> {
    const ac = new AbortController()
    m.abort = ac
    const timer = setTimeout(() => ac.abort(new Error(`no answer within ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs)
    const started = performance.now()
    let status: number | undefined
    let error: string | undefined
    try {
      const res = await this.agent.request({
        origin: m.origin,
        path: m.path,
        method: this.opts.method,
        headers: {host: m.host, 'user-agent': 'tavern-health-check', ...this.opts.headers},
        signal: ac.signal,
      })
      status = res.statusCode
      // The connection goes with the body: the next probe connects again, as a client would after a restart.
      discardBody(res.body)
    } catch (e) {
      error = ac.signal.aborted && ac.signal.reason instanceof Error ? ac.signal.reason.message : describeError(e)
    } finally {
      clearTimeout(timer)
      m.abort = undefined
    }
    // stop() cut this probe: it says nothing about the member.
    if (ac.signal.reason === STOPPED) return
    const s = m.snap
    s.checks++
    s.lastCheckAt = this.clock()
    s.lastLatencyMs = performance.now() - started
    s.lastStatus = status
    s.lastError = error
    const passed = status !== undefined && this.opts.expectStatus.some(([lo, hi]) => status >= lo && status <= hi)
    if (passed) {
      s.passes++
      s.failures = 0
      if (!s.up && s.passes >= this.opts.rise) this.change(m, true, `${s.passes} probe(s) passed (status ${status})`)
    } else {
      s.failures++
      s.passes = 0
      const why = status !== undefined ? `status ${status} not in ${this.ranges()}` : (error ?? 'failed')
      if (s.up && s.failures >= this.opts.fall) this.change(m, false, `${s.failures} probe(s) failed: ${why}`)
    }
    this.deps.onProbe?.(m.target.name, passed)
  }

  private change(m: MemberCheck, up: boolean, reason: string): void {
    m.snap.up = up
    this.deps.onChange?.({member: m.target.name, up, at: this.clock(), reason})
  }

  private ranges(): string {
    return this.opts.expectStatus.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(',')
  }
}

function describeError(e: unknown): string {
  const err = e as {code?: string; message?: string}
  return err.code ? `${err.code}${err.message ? `: ${err.message}` : ''}` : String(err.message ?? e)
}

/** Parse "200-399", "200", or "200-299,304" into inclusive ranges; undefined when malformed. */
export function parseStatusRanges(spec: string): Array<[number, number]> | undefined {
  const out: Array<[number, number]> = []
  for (const part of spec.split(',')) {
    const m = /^\s*([1-5]\d\d)\s*(?:-\s*([1-5]\d\d)\s*)?$/.exec(part)
    if (!m) return undefined
    const lo = Number(m[1])
    const hi = m[2] === undefined ? lo : Number(m[2])
    if (hi < lo) return undefined
    out.push([lo, hi])
  }
  return out.length ? out : undefined
}
