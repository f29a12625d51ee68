/**
 * The route policy's word on storing a response the protocol allows to be stored: `setCookie: bypass` (a response
 * with Set-Cookie is not stored, nginx / Varnish style) and `maxObjectSize` (a declared body above it is not
 * stored). The reason goes to Cache-Status and inspect-key like every other storability reason.
 */
import {getHeader, hasHeader, type RawHeaders} from '../util/raw-headers.js'
import type {CompiledPolicy} from './policy-resolve.js'
import type {Storability} from './storability.js'

/** The fields `setCookie: strip` leaves out of the stored copy (Set-Cookie2 is obsolete but still seen). */
export const SET_COOKIE: ReadonlySet<string> = new Set(['set-cookie', 'set-cookie2'])

export function storeVerdict(protocol: Storability, p: CompiledPolicy, headers: RawHeaders): Storability {
  if (!protocol.store) return protocol
  if (p.setCookie === 'bypass' && (hasHeader(headers, 'set-cookie') || hasHeader(headers, 'set-cookie2'))) return {store: false, reason: 'response has Set-Cookie (setCookie: bypass)'}
  if (p.maxObjectSize > 0) {
    const cl = getHeader(headers, 'content-length')?.trim()
    if (cl !== undefined && /^\d+$/.test(cl) && Number(cl) > p.maxObjectSize) return {store: false, reason: `body of ${cl} bytes is larger than maxObjectSize (${p.maxObjectSize})`}
  }
  return protocol
}
