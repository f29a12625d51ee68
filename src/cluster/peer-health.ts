/**
 * Whether each other peer may be sent requests: active probes (the upstream health checker, asking the peer's own
 * health path with the hop header, which the peer answers itself) and passive marks (a forward that could not
 * connect takes the peer down at once). Either way a peer comes back only after `rise` probes in a row pass, so a
 * flapping peer does not pull its keys back and forth (hysteresis); every node probes with jitter, so the nodes do
 * not all move the keys back in the same instant.
 */
import type {BackgroundRunner} from '../core/background.js'
import {ActiveHealthCheck, type HealthChange} from '../proxy/origin/health/active-check.js'
import {HOP_HEADER} from './config.js'

export interface PeerHealthOptions {
  intervalMs: number
  timeoutMs: number
  fall: number
  rise: number
  path: string
}

export interface PeerHealthEvent {
  peer: string
  up: boolean
  reason: string
}

export interface PeerHealthState {
  up: boolean
  /** Down because a forward failed, until `rise` probes pass. */
  passiveDown: boolean
  checks: number
  lastError?: string
  lastLatencyMs?: number
}

interface Passive {
  reason: string
  passes: number
}

export class PeerHealth {
  private readonly active: ActiveHealthCheck
  private readonly passive = new Map<string, Passive>()
  /** Up per the probes; kept here so isUp (every routed request) is a map read. */
  private readonly probeUp = new Map<string, boolean>()
  private readonly emit: (e: PeerHealthEvent) => void

  constructor(
    peers: readonly string[],
    self: string,
    private readonly opts: PeerHealthOptions,
    deps: {background: BackgroundRunner; onChange?: (e: PeerHealthEvent) => void},
  ) {
    for (const p of peers) this.probeUp.set(p, true)
    const emit = (this.emit = deps.onChange ?? (() => {}))
    this.active = new ActiveHealthCheck(
      peers.map((p) => ({name: p, url: p})),
      {
        path: opts.path,
        method: 'GET',
        headers: {[HOP_HEADER]: self},
        intervalMs: opts.intervalMs,
        timeoutMs: opts.timeoutMs,
        // The peer answers 204 itself; 421: a peer whose sites claim no default host refused the probe's Host
        // before answering it — still a Tavern listener that parses requests.
        expectStatus: [
          [200, 299],
          [421, 421],
        ],
        rise: opts.rise,
        fall: opts.fall,
        initial: 'up',
      },
      {
        background: deps.background,
        onChange: (c: HealthChange) => {
          const wasUp = this.isUp(c.member)
          this.probeUp.set(c.member, c.up)
          if (this.isUp(c.member) !== wasUp) emit({peer: c.member, up: c.up, reason: `health check: ${c.reason}`})
        },
        onProbe: (member, passed) => {
          const p = this.passive.get(member)
          if (!p) return
          p.passes = passed ? p.passes + 1 : 0
          if (p.passes >= this.opts.rise) {
            this.passive.delete(member)
            if (this.isUp(member)) emit({peer: member, up: true, reason: `${p.passes} probe(s) passed after: ${p.reason}`})
          }
        },
      },
    )
  }

  start(): void {
    this.active.start()
  }

  stop(): Promise<void> {
    return this.active.stop()
  }

  isUp(peer: string): boolean {
    return this.probeUp.get(peer) === true && !this.passive.has(peer)
  }

  /** A forward to `peer` could not connect: down now, back after `rise` passing probes. */
  markDown(peer: string, reason: string): void {
    if (!this.probeUp.has(peer)) return
    const p = this.passive.get(peer)
    if (p) {
      p.passes = 0
      return
    }
    const wasUp = this.isUp(peer)
    this.passive.set(peer, {reason, passes: 0})
    if (wasUp) this.emit({peer, up: false, reason: `forward failed: ${reason}`})
  }

  snapshot(): Map<string, PeerHealthState> {
    const out = new Map<string, PeerHealthState>()
    for (const s of this.active.snapshot()) {
      out.set(s.name, {up: this.isUp(s.name), passiveDown: this.passive.has(s.name), checks: s.checks, lastError: s.lastError, lastLatencyMs: s.lastLatencyMs})
    }
    return out
  }
}
