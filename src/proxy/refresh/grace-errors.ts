/**
 * Which origin failures let grace serve a stored response (RFC 9111 §4.2.4: the cache is "disconnected").
 */
import type {UpstreamErrorKind} from '../origin/upstream.js'

/**
 * The origin could not be reached, timed out, reset, sent something unusable, or we did not even ask it because its
 * connections are saturated (`busy`). Not for a failing plugin hook (`hook`: our fault, not the origin's) nor a
 * client that went away (`aborted`).
 * `down` (no member available: all unhealthy, ejected or behind an open breaker) is a disconnected cache too, and
 * `limited` (a rate limit on requests that need the origin) is exactly when a stored copy should be served.
 */
const GRACE_ON: Record<UpstreamErrorKind, boolean> = {
  connect: true,
  timeout: true,
  reset: true,
  unavailable: true,
  protocol: true,
  // The certificate did not verify: what is stored was verified when it was fetched.
  tls: true,
  busy: true,
  aborted: false,
  hook: false,
  down: true,
  limited: true,
}

export function graceAllowedFor(kind: UpstreamErrorKind): boolean {
  return GRACE_ON[kind]
}
