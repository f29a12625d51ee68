/**
 * Per-session rate limits for the HTTP/2 floods Node does not stop by itself, each a token bucket (`burst` events
 * at once, refilled at `perSecond`). A session over a limit gets GOAWAY with ENHANCE_YOUR_CALM and is closed; its
 * streams not yet handed to the request handler are refused.
 *
 * What Node 20.20 (nghttp2 1.61) already does, measured (test/daemon/listeners/h2-floods.test.ts):
 * - Rapid reset (CVE-2023-44487): nghttp2 sends GOAWAY after ~1000 resets, but every stream already in the read
 *   buffer still reaches the request handler (2 300 handler calls for 5 000 HEADERS+RST_STREAM pairs in one
 *   write), and the connection stays open. → `resets`: streams the client resets before their response is complete.
 * - CONTINUATION flood (CVE-2024-27983 / CVE-2024-28182): nghttp2 ≥ 1.61 caps CONTINUATION frames per header block
 *   and closes the session; Node also resets a stream whose headers pass 64 KiB. → nothing to add; the start-up
 *   check (`assertHttp2Defences`) refuses to serve HTTP/2 on an nghttp2 without it.
 * - PING / SETTINGS floods: nghttp2 closes the session only when 1000 ACKs are queued unsent (a client that does not
 *   read). A client that reads its ACKs can keep the server answering PINGs/SETTINGS forever.
 *   → `pings`, `settings`.
 * - Header list size: SETTINGS_MAX_HEADER_LIST_SIZE applies only once the client acknowledges our SETTINGS; until
 *   then Node accepts up to 64 KiB. → the server answers 431 to a larger list itself (see h2-server.ts).
 */
import {constants, type ServerHttp2Session} from 'node:http2'

export interface Rate {
  burst: number
  perSecond: number
}

export interface FloodLimits {
  /** Streams reset by the client before their response was complete. */
  resets: Rate
  /** PING frames from the client. */
  pings: Rate
  /** SETTINGS frames from the client (the first one included). */
  settings: Rate
}

export type FloodKind = keyof FloodLimits

export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private readonly rate: Rate,
    now: number,
  ) {
    this.tokens = rate.burst
    this.last = now
  }

  /** Spend one token; false when there is none left. */
  take(now: number): boolean {
    const elapsed = now - this.last
    if (elapsed > 0) {
      this.tokens = Math.min(this.rate.burst, this.tokens + (elapsed * this.rate.perSecond) / 1000)
      this.last = now
    }
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

/** Flood counters for stats (sessions closed per kind). */
export interface FloodCounters {
  resets: number
  pings: number
  settings: number
}

const GUARD = Symbol('tavern.h2.guard')
/** Between GOAWAY and closing an abusive session. */
const ABUSE_GRACE_MS = 50

export class SessionGuard {
  private readonly buckets: {[K in FloodKind]: TokenBucket}
  /** Set once the session went over a limit. */
  flagged: FloodKind | undefined

  constructor(
    private readonly session: ServerHttp2Session,
    limits: FloodLimits,
    private readonly onAbuse: (kind: FloodKind, session: ServerHttp2Session) => void,
    private readonly now: () => number = Date.now,
  ) {
    const t = now()
    this.buckets = {resets: new TokenBucket(limits.resets, t), pings: new TokenBucket(limits.pings, t), settings: new TokenBucket(limits.settings, t)}
    ;(session as ServerHttp2Session & {[GUARD]?: SessionGuard})[GUARD] = this
    session.on('ping', () => this.count('pings'))
    session.on('remoteSettings', () => this.count('settings'))
  }

  static of(session: ServerHttp2Session): SessionGuard | undefined {
    return (session as ServerHttp2Session & {[GUARD]?: SessionGuard})[GUARD]
  }

  /** A stream of this session was reset by the client before its response was complete. */
  streamReset(): void {
    this.count('resets')
  }

  private count(kind: FloodKind): void {
    if (this.flagged !== undefined) return
    if (this.buckets[kind].take(this.now())) return
    this.flagged = kind
    try {
      this.onAbuse(kind, this.session)
    } catch {
      // reporting must not keep the session open
    }
    // GOAWAY(ENHANCE_YOUR_CALM) now, so it is on the wire before the connection goes (destroying at once can cut it
    // off when the socket is busy); the session is destroyed right after, whatever its streams are doing. (The code
    // is destroy()'s first argument: destroy(undefined, code) would take its default, NO_ERROR.) The session
    // 'error' this emits goes to the server's 'sessionError'.
    const {session} = this
    if (session.destroyed) return
    try {
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM)
    } catch {
      // already closing: destroy below
    }
    setTimeout(() => {
      if (!session.destroyed) session.destroy(constants.NGHTTP2_ENHANCE_YOUR_CALM as unknown as Error)
    }, ABUSE_GRACE_MS).unref()
  }
}

/** nghttp2's version as [major, minor, patch]. */
function nghttp2Version(v = process.versions.nghttp2 ?? '0.0.0'): number[] {
  return v.split('.').map((x) => Number.parseInt(x, 10) || 0)
}

/**
 * HTTP/2 is served only on an nghttp2 that limits CONTINUATION frames (1.61.0, Node ≥ 18.20.1 / 20.12.1 / 21.7.2):
 * without it one connection can make the server buffer headers without end (CVE-2024-28182).
 */
export function assertHttp2Defences(version = process.versions.nghttp2): void {
  const [major = 0, minor = 0] = nghttp2Version(version)
  if (major > 1 || (major === 1 && minor >= 61)) return
  throw new Error(`HTTP/2 needs nghttp2 1.61.0 or later (this Node has ${version ?? 'none'}, open to the CONTINUATION flood CVE-2024-28182): upgrade Node.js, or turn http2/h2c off on the listeners`)
}
