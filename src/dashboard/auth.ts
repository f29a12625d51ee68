/**
 * Access to the dashboard's data when a token is configured.
 *
 * Tools send `Authorization: Bearer <token>`. A browser cannot: EventSource has no way to add a header, so the page
 * posts the token once to `login` and gets a session cookie instead — `v1.<expiry>.<HMAC-SHA256(token, expiry)>`,
 * HttpOnly, SameSite=Strict, scoped to the dashboard path. The cookie is derived from the token, so the token itself
 * never sits in the browser, a changed token ends every session, and the daemon keeps no session state.
 * All comparisons are constant-time.
 */
import {createHash, createHmac, timingSafeEqual} from 'node:crypto'
import type {IncomingMessage} from 'node:http'

export const SESSION_COOKIE = 'tavern_dashboard'
/** 12 hours: a dashboard left open on a wall screen lasts a shift, a stolen cookie not much longer. */
export const SESSION_LIFETIME_SEC = 12 * 3600
export const MIN_TOKEN_LENGTH = 16

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}

/** Constant-time string equality (hashing first makes the lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b))
}

function sign(token: string, expiresSec: number): string {
  return createHmac('sha256', token).update(`tavern-dashboard-session:v1:${expiresSec}`).digest('base64url')
}

export function sessionCookieValue(token: string, nowMs: number): {value: string; maxAgeSec: number} {
  const expires = Math.floor(nowMs / 1000) + SESSION_LIFETIME_SEC
  return {value: `v1.${expires}.${sign(token, expires)}`, maxAgeSec: SESSION_LIFETIME_SEC}
}

export function validSessionCookie(value: string, token: string, nowMs: number): boolean {
  const m = /^v1\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value)
  if (!m) return false
  const expires = Number(m[1])
  const now = Math.floor(nowMs / 1000)
  // A cookie claiming to last longer than we ever issue was not issued by us.
  if (expires <= now || expires > now + SESSION_LIFETIME_SEC) return false
  return timingSafeEqual(Buffer.from(m[2]!, 'utf8'), Buffer.from(sign(token, expires), 'utf8'))
}

/** The value of cookie `name` in the request, if any. */
export function cookieOf(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export function bearerOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization
  if (!h) return undefined
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h)
  return m ? m[1] : undefined
}

/** true when the request carries the token (bearer) or a live session cookie for it. */
export function isAuthorised(req: IncomingMessage, token: string, nowMs: number): boolean {
  const bearer = bearerOf(req)
  if (bearer !== undefined) return safeEqual(bearer, token)
  const cookie = cookieOf(req, SESSION_COOKIE)
  return cookie !== undefined && validSessionCookie(cookie, token, nowMs)
}

/**
 * Whether a Host header may reach an unauthenticated dashboard. Without a token the only protection of a loopback
 * listener is that nobody else can connect; a web page elsewhere could still point a DNS name at 127.0.0.1
 * ("DNS rebinding") and read the stream as same-origin. Browsers send that name as Host, so only IP literals,
 * `localhost` and explicitly allowed names are served.
 */
export function hostAllowed(hostHeader: string | undefined, allowed: readonly string[]): boolean {
  if (!hostHeader) return false
  const host = hostnameOf(hostHeader.trim().toLowerCase())
  if (host === undefined) return false
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  if (host.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return true
  return allowed.some((a) => a.toLowerCase() === host)
}

function hostnameOf(h: string): string | undefined {
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    return end > 0 ? h.slice(0, end + 1) : undefined
  }
  const colon = h.lastIndexOf(':')
  return colon >= 0 ? h.slice(0, colon) : h
}
