import type {IncomingMessage} from 'node:http'

import {getAll, getHeader, type RawHeaders} from '../util/raw-headers.js'
import {stripHopByHop} from './hop-by-hop.js'

/** Request fields that never go upstream as sent: undici rejects Expect (Node answers 100-continue itself). */
const REQUEST_DROP: ReadonlySet<string> = new Set(['expect'])

/** Headers for the upstream request: hop-by-hop removed, Via and X-Forwarded-* added (RFC 9110 §7.6.3). */
export function upstreamRequestHeaders(req: IncomingMessage, via: string): RawHeaders {
  const h = stripHopByHop(req.rawHeaders, REQUEST_DROP)
  const out: RawHeaders = []
  const xff = getAll(h, 'x-forwarded-for')
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!.toLowerCase()
    // Replaced below with our own values (XFF is extended, not replaced).
    if (n === 'x-forwarded-for' || n === 'x-forwarded-proto' || n === 'x-forwarded-host' || n === 'via') continue
    out.push(h[i]!, h[i + 1]!)
  }
  const viaIn = getAll(h, 'via')
  const version = `${req.httpVersionMajor}.${req.httpVersionMinor}`
  out.push('via', [...viaIn, `${version} ${via}`].join(', '))
  const client = req.socket.remoteAddress ?? 'unknown'
  out.push('x-forwarded-for', [...xff, client].join(', '))
  out.push('x-forwarded-proto', 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http')
  const host = getHeader(h, 'host')
  if (host !== undefined) out.push('x-forwarded-host', host)
  return out
}

/** Headers for the client response: hop-by-hop removed, our Via appended. */
export function downstreamResponseHeaders(upstream: readonly string[], via: string): RawHeaders {
  const h = stripHopByHop(upstream)
  const viaIn = getAll(h, 'via')
  const out: RawHeaders = []
  for (let i = 0; i < h.length; i += 2) if (h[i]!.toLowerCase() !== 'via') out.push(h[i]!, h[i + 1]!)
  out.push('Via', [...viaIn, `1.1 ${via}`].join(', '))
  return out
}
