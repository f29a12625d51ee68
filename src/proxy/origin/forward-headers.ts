import type {TavernConfig} from '../../config/schema.js'
import {HOP_HEADER} from '../../cluster/config.js'
import {allowListFor, type AllowList} from '../../util/cidr.js'
import {getAll, getHeader, type RawHeaders} from '../../util/raw-headers.js'
import type {RequestContext} from '../context.js'
import {viaProtocolVersion} from '../downstream.js'
import {stripHopByHop} from './hop-by-hop.js'

/**
 * Fields that say who the client is and how it reached us. Kept (and X-Forwarded-For / Forwarded extended) only when
 * the peer is in `server.trustedProxies`; from anyone else they are dropped and replaced by our own values.
 */
export const FORWARDING_HEADERS: readonly string[] = ['Forwarded', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'X-Forwarded-Port', 'X-Real-IP', 'X-Client-IP', 'True-Client-IP']

/** Membership of header names (case-insensitive) that rejects most names by length and first letter, without lower-casing them. */
class NameSet {
  private readonly names: Set<string>
  private readonly lengths = new Uint8Array(256)
  private readonly firsts = new Uint8Array(128)

  constructor(names: Iterable<string>) {
    this.names = new Set([...names].map((n) => n.toLowerCase()))
    for (const n of this.names) {
      this.lengths[Math.min(n.length, 255)] = 1
      this.firsts[n.charCodeAt(0) & 0x7f] = 1
    }
  }

  has(name: string): boolean {
    if (this.lengths[Math.min(name.length, 255)] === 0 || this.firsts[(name.charCodeAt(0) | 0x20) & 0x7f] === 0) return false
    return this.names.has(name.toLowerCase())
  }
}

/** What `server.*` says about incoming requests, prepared once per config. */
export interface RequestPolicy {
  readonly trustedProxies: AllowList
  /** Strip list plus forwarding fields: what a request from an untrusted peer loses. */
  readonly untrustedDrop: NameSet
  readonly trustedDrop: NameSet
}

const policies = new WeakMap<TavernConfig['server'], RequestPolicy>()

export function requestPolicy(server: TavernConfig['server']): RequestPolicy {
  let p = policies.get(server)
  if (!p) {
    p = {
      trustedProxies: allowListFor(server.trustedProxies),
      // The cluster hop header is ours: never passed on, whoever sent it (admission read it first).
      untrustedDrop: new NameSet([...server.stripRequestHeaders, ...FORWARDING_HEADERS, HOP_HEADER]),
      trustedDrop: new NameSet([...server.stripRequestHeaders, HOP_HEADER]),
    }
    policies.set(server, p)
  }
  return p
}

/**
 * The request's header list as Tavern forwards it: strip-list fields removed, forwarding fields removed unless the
 * peer is a trusted proxy, and the Host field set to `authority`, the one the request is keyed under (added when a
 * request had none, e.g. HTTP/1.0 with an absolute-form target). Returns `raw` itself when nothing changes.
 */
export function sanitizeRequestHeaders(raw: string[], policy: RequestPolicy, peerTrusted: boolean, authority: string): string[] {
  const drop = peerTrusted ? policy.trustedDrop : policy.untrustedDrop
  let out: string[] | undefined
  let sawHost = false
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!
    const isHost = n.length === 4 && (n === 'Host' || n === 'host' || n.toLowerCase() === 'host')
    const dropIt = !isHost && drop.has(n)
    const rewrite = isHost && raw[i + 1] !== authority
    if (isHost) sawHost = true
    if (!out && (dropIt || rewrite)) out = raw.slice(0, i)
    if (dropIt) continue
    if (out) out.push(n, rewrite ? authority : raw[i + 1]!)
  }
  if (!sawHost) (out ??= raw.slice()).push('Host', authority)
  return out ?? raw
}

/** Request fields that never go upstream as sent: undici rejects Expect (Node answers 100-continue itself). */
const REQUEST_DROP: ReadonlySet<string> = new Set(['expect'])

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** An RFC 7239 node for `for=`: IPv6 in brackets and quoted (`"[2001:db8::1]"`), unknown peers as `unknown`. */
function forwardedNode(address: string | undefined): string {
  if (!address) return 'unknown'
  return address.includes(':') ? `"[${address}]"` : address
}

function forwardedValue(v: string): string {
  return TOKEN.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`
}

/**
 * Headers for the upstream request: hop-by-hop removed, Via, X-Forwarded-* and Forwarded (RFC 7239) added
 * (RFC 9110 §7.6.3). `ctx` must have been admitted (its headers sanitised by sanitizeRequestHeaders): forwarding
 * fields still present then came from a trusted proxy, so X-Forwarded-For and Forwarded are extended with our hop and
 * X-Forwarded-Proto / -Host kept; otherwise they carry only our own values.
 */
export function upstreamRequestHeaders(ctx: Pick<RequestContext, 'req' | 'headers' | 'client' | 'scheme'>, via: string): RawHeaders {
  const {req} = ctx
  const h = stripHopByHop(ctx.headers, REQUEST_DROP)
  const out: RawHeaders = []
  let proto: string | undefined
  let forwardedHost: string | undefined
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!.toLowerCase()
    if (n === 'x-forwarded-proto') proto ??= h[i + 1]
    else if (n === 'x-forwarded-host') forwardedHost ??= h[i + 1]
    // Extended or replaced below.
    else if (n !== 'x-forwarded-for' && n !== 'forwarded' && n !== 'via') out.push(h[i]!, h[i + 1]!)
  }
  const version = viaProtocolVersion(req)
  out.push('via', [...getAll(h, 'via'), `${version} ${via}`].join(', '))
  const client = ctx.client
  const scheme = ctx.scheme
  const host = getHeader(h, 'host')
  out.push('x-forwarded-for', [...getAll(h, 'x-forwarded-for'), client ?? 'unknown'].join(', '))
  const hop = `for=${forwardedNode(client)}${host === undefined ? '' : `;host=${forwardedValue(host)}`};proto=${scheme}`
  out.push('forwarded', [...getAll(h, 'forwarded'), hop].join(', '))
  out.push('x-forwarded-proto', proto ?? scheme)
  if (forwardedHost !== undefined || host !== undefined) out.push('x-forwarded-host', forwardedHost ?? host!)
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
