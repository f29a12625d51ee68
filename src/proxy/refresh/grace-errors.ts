/**
 * Which origin failures let grace serve a stored response (RFC 9111 §4.2.4: the cache is "disconnected").
 */
import type {UpstreamErrorKind} from '../origin/upstream.js'

/**
 * The origin could not be reached, timed out, reset, sent something unusable, or we did not even ask it because its
 * connections are saturated (`busy`). Not for a failing plugin hook (`hook`: our fault, not the origin's) nor a
 * client that went away (`aborted`).
 *
 * NEW KINDS GO HERE: when the resilience work surfaces "no member available" / "circuit breaker open" as its own
 * UpstreamError kind (today both arrive as `unavailable`), list it as true so grace covers it.
 */
const GRACE_ON: Record<UpstreamErrorKind, boolean> = {
  connect: true,
  timeout: true,
  reset: true,
  unavailable: true,
  protocol: true,
  busy: true,
  aborted: false,
  hook: false,
}

export function graceAllowedFor(kind: UpstreamErrorKind): boolean {
  return GRACE_ON[kind]
}
