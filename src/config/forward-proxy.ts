/**
 * Forward-proxy mode (docs/forward-proxy.md): trusted clients send absolute-form targets (`GET https://host/path`
 * over plain HTTP); Tavern fetches the URI's own origin itself and caches under that URI.
 *
 *   forwardProxy:
 *     enabled: true
 *     clients: [10.0.0.0/8]                    # who may use it (socket peer); default none
 *     destinations: [api.example.com, "*.example.org", "127.0.0.1:8443", "cdn.test:*"]   # allow-list; default none
 *     tls: {ca: /etc/tavern/extra-ca.pem, systemRoots: true}
 *     connections: 16                          # per destination
 *     maxDestinations: 256                     # destination pools open at once
 *     idleTimeout: 60s                         # a destination's pool is closed after this long unused
 *
 * A destination pattern is a host (`api.example.com`, an IP, `[::1]`) or `*.suffix` (any name below it, not the
 * suffix itself), with an optional `:port` or `:*`. Without a port it allows the URI scheme's default port only
 * (80 for http://, 443 for https://): naming a host does not open every service on it. There is no "any host"
 * pattern: this is never an open proxy. Everything else about the origin calls (timeouts, queue, key share,
 * retries, breaker) comes from the `upstream` section.
 */
import {isIP} from 'node:net'

import {z} from 'zod'

import {isCidr} from '../util/cidr.js'
import {duration} from './zod-units.js'

/** One compiled destination pattern. */
export interface DestinationPattern {
  /** Lower-case host; for a wildcard the suffix with its dot (`.example.org`); IPv6 in brackets. */
  host: string
  wildcard: boolean
  /** A port number, '*' (any), or undefined (the scheme's default port only). */
  port: number | '*' | undefined
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/

function validName(h: string): boolean {
  if (h.length > 253) return false
  return h.split('.').every((l) => LABEL.test(l))
}

/** Parse a destination pattern; a string naming the problem when it is not one. */
export function parseDestination(raw: string): DestinationPattern | string {
  const s = raw.trim().toLowerCase()
  if (s === '' || s === '*' || s === '*.*') return 'expected a host pattern (e.g. api.example.com, *.example.org, host:8443); there is no "any host" pattern'
  let host: string
  let portPart: string | undefined
  const v6 = /^(\[[0-9a-f:.]+\])(?::(.*))?$/.exec(s)
  if (v6) {
    host = v6[1]!
    portPart = v6[2]
    if (isIP(host.slice(1, -1)) !== 6) return `not an IPv6 address: ${host}`
  } else {
    const colon = s.lastIndexOf(':')
    host = colon < 0 ? s : s.slice(0, colon)
    portPart = colon < 0 ? undefined : s.slice(colon + 1)
  }
  let port: DestinationPattern['port']
  if (portPart !== undefined) {
    if (portPart === '*') port = '*'
    else if (/^\d{1,5}$/.test(portPart) && Number(portPart) >= 1 && Number(portPart) <= 65_535) port = Number(portPart)
    else return `bad port ${JSON.stringify(portPart)} (a number 1-65535, or *)`
  }
  if (v6) return {host, wildcard: false, port}
  if (host.includes('[') || host.includes(']')) return `not an IPv6 address in brackets: ${JSON.stringify(host)}`
  const wildcard = host.startsWith('*.')
  const name = wildcard ? host.slice(2) : host
  if (name.includes('*')) return 'a wildcard is only allowed as the first label ("*.example.org")'
  if (!(isIP(name) === 4 && !wildcard) && !validName(name)) return `not a host name: ${JSON.stringify(name)}`
  if (wildcard && !name.includes('.')) return `"*.${name}" would cover a whole top-level domain: name a domain below it`
  return {host: wildcard ? `.${name}` : name, wildcard, port}
}

const destination = z.string().transform((v, ctx) => {
  const p = parseDestination(v)
  if (typeof p === 'string') {
    ctx.addIssue({code: 'custom', message: p})
    return z.NEVER
  }
  return {pattern: v, ...p}
})

const cidr = z.string().refine((v) => isCidr(v), {message: 'expected an IP address or CIDR, e.g. 10.0.0.0/8 or ::1'},
)

const caFiles = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)])

export const ForwardProxySchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Client addresses (socket peer; IP or CIDR) allowed to send absolute-form targets for forwarding. */
    clients: z.array(cidr).default([]),
    /** Destination host patterns allowed (see above); anything else is 403. */
    destinations: z.array(destination).default([]),
    tls: z
      .strictObject({
        /** PEM file(s) of extra CAs to trust for destination certificates (added to the system roots). */
        ca: caFiles.optional(),
        /** false: trust only `ca`, not Node's bundled root certificates. */
        systemRoots: z.boolean().default(true),
      })
      .prefault({})
      .refine((t) => t.systemRoots || t.ca !== undefined, {message: 'systemRoots: false needs tls.ca (otherwise no certificate could verify)', path: ['systemRoots']}),
    /** Connections per destination (its own pool). */
    connections: z.number().int().min(1).max(1024).default(16),
    /** Destination pools open at once; a new destination beyond it replaces the least recently used idle one (none idle: 503). */
    maxDestinations: z.number().int().min(1).max(65_536).default(256),
    /** A destination pool unused for this long is closed. */
    idleTimeout: duration('60s').refine((ms) => ms >= 100, {message: 'idleTimeout must be at least 100ms'}),
  })
  .prefault({})

export type ForwardProxyConfig = z.output<typeof ForwardProxySchema>
export type ForwardDestination = ForwardProxyConfig['destinations'][number]

function authorityParts(authority: string): {host: string; port: number | undefined} {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']')
    const port = authority.slice(end + 2)
    return {host: authority.slice(0, end + 1), port: port ? Number(port) : undefined}
  }
  const colon = authority.lastIndexOf(':')
  return colon < 0 ? {host: authority, port: undefined} : {host: authority.slice(0, colon), port: Number(authority.slice(colon + 1))}
}

/**
 * Whether `scheme://authority` (normalised: lower case, the scheme's default port dropped) is an allowed destination:
 * the pattern that allows it, or undefined.
 */
export function allowedDestination(list: readonly ForwardDestination[], scheme: 'http' | 'https', authority: string): ForwardDestination | undefined {
  const {host, port: explicit} = authorityParts(authority)
  const port = explicit ?? (scheme === 'https' ? 443 : 80)
  for (const d of list) {
    if (d.port === undefined ? explicit !== undefined : d.port !== '*' && d.port !== port) continue
    if (d.wildcard ? host.length > d.host.length && host.endsWith(d.host) : host === d.host) return d
  }
  return undefined
}
