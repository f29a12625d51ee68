/**
 * Passive outlier detection from real traffic (Envoy outlier detection, nginx max_fails): a member answering 5xx or
 * failing locally (connect error, timeout, reset) several times in a row is ejected — taken out of balancing — for
 * `baseEjectionMs × 2^(n−1)` (n = its ejections in a row, capped at `maxEjectionMs`), then returns on its own. At most
 * `maxEjectedShare` of the group is ejected at once (at least one member of a group of two or more), so a bad deploy
 * that breaks every member does not empty the group: the breaker and retries deal with that. A member that stays in
 * for `maxEjectionMs` after returning starts again from the base time.
 */
export type OriginResult = 'success' | '5xx' | 'timeout' | 'connect' | 'reset'

export interface OutlierOptions {
  /** 5xx answers or local errors in a row that eject (0: off). */
  consecutive5xx: number
  /** Local errors (connect, timeout, reset) in a row that eject (0: off). */
  consecutiveLocalErrors: number
  baseEjectionMs: number
  maxEjectionMs: number
  /** Largest share (0–1) of the group ejected at once. */
  maxEjectedShare: number
  now?: () => number
  onChange?: (change: OutlierChange) => void
}

export interface OutlierChange {
  member: string
  ejected: boolean
  at: number
  /** Ejected: when it returns. */
  until?: number
  reason: string
}

export interface OutlierMemberSnapshot {
  name: string
  ejected: boolean
  /** Clock ms it returns at (ejected only). */
  until?: number
  /** Ejections in a row (drives the backoff). */
  ejections: number
  /** Ejections since start. */
  totalEjections: number
  consecutive5xx: number
  consecutiveLocalErrors: number
}

interface MemberRecord {
  c5xx: number
  cLocal: number
  ejectedUntil: number // 0: in
  returnedAt: number
  streak: number
  total: number
}

export class OutlierDetector {
  private readonly members = new Map<string, MemberRecord>()
  private readonly clock: () => number

  constructor(
    names: Iterable<string>,
    private readonly opts: OutlierOptions,
  ) {
    if (!(opts.maxEjectedShare >= 0 && opts.maxEjectedShare <= 1)) throw new RangeError('maxEjectedShare must be in [0, 1]')
    if (!(opts.baseEjectionMs > 0 && opts.maxEjectionMs >= opts.baseEjectionMs)) throw new RangeError('need 0 < baseEjectionMs <= maxEjectionMs')
    this.clock = opts.now ?? Date.now
    this.setMembers(names)
  }

  /** Follow a membership change (reload): new members start clean, departed ones are forgotten. */
  setMembers(names: Iterable<string>): void {
    const keep = new Set(names)
    for (const n of this.members.keys()) if (!keep.has(n)) this.members.delete(n)
    for (const n of keep) if (!this.members.has(n)) this.members.set(n, {c5xx: 0, cLocal: 0, ejectedUntil: 0, returnedAt: Number.NEGATIVE_INFINITY, streak: 0, total: 0})
  }

  /** The result of one exchange with `member`; local errors are those where no answer came back. */
  record(member: string, result: OriginResult): void {
    const m = this.members.get(member)
    if (!m) return
    const now = this.clock()
    if (this.refresh(member, m, now)) return // results of requests sent before the ejection change nothing
    if (result === 'success') {
      m.c5xx = 0
      m.cLocal = 0
      return
    }
    m.c5xx++
    if (result === '5xx') m.cLocal = 0
    else m.cLocal++
    const o = this.opts
    let reason: string | undefined
    if (o.consecutiveLocalErrors > 0 && m.cLocal >= o.consecutiveLocalErrors) reason = `${m.cLocal} connect errors/timeouts/resets in a row`
    else if (o.consecutive5xx > 0 && m.c5xx >= o.consecutive5xx) reason = `${m.c5xx} 5xx answers or errors in a row`
    if (reason !== undefined && this.mayEject(now)) this.eject(member, m, now, reason)
  }

  isEjected(member: string): boolean {
    const m = this.members.get(member)
    return m !== undefined && this.refresh(member, m, this.clock())
  }

  snapshot(): OutlierMemberSnapshot[] {
    const now = this.clock()
    return [...this.members].map(([name, m]) => {
      const ejected = this.refresh(name, m, now)
      return {name, ejected, ...(ejected ? {until: m.ejectedUntil} : {}), ejections: m.streak, totalEjections: m.total, consecutive5xx: m.c5xx, consecutiveLocalErrors: m.cLocal}
    })
  }

  private mayEject(now: number): boolean {
    const size = this.members.size
    if (size < 2) return false
    let ejected = 0
    for (const [name, m] of this.members) if (this.refresh(name, m, now)) ejected++
    return ejected < Math.max(1, Math.floor(this.opts.maxEjectedShare * size)) && this.opts.maxEjectedShare > 0
  }

  private eject(name: string, m: MemberRecord, now: number, reason: string): void {
    if (now - m.returnedAt >= this.opts.maxEjectionMs) m.streak = 0
    m.streak++
    m.total++
    const duration = Math.min(this.opts.maxEjectionMs, this.opts.baseEjectionMs * 2 ** (m.streak - 1))
    m.ejectedUntil = now + duration
    m.c5xx = 0
    m.cLocal = 0
    this.opts.onChange?.({member: name, ejected: true, at: now, until: m.ejectedUntil, reason: `${reason}; ejected for ${duration} ms`})
  }

  /** Whether `m` is ejected at `now`; brings it back (once, with an event) when its time is up. */
  private refresh(name: string, m: MemberRecord, now: number): boolean {
    if (m.ejectedUntil === 0) return false
    if (now < m.ejectedUntil) return true
    const at = m.ejectedUntil
    m.ejectedUntil = 0
    m.returnedAt = at
    this.opts.onChange?.({member: name, ejected: false, at, reason: 'ejection time over'})
    return false
  }
}
