/**
 * Config of the data-plane listeners (`listen`) and of HTTP/2 (`http2`).
 *
 *   listen: "127.0.0.1:8080"                                   # as before: one plain HTTP/1.1 listener
 *   listen:
 *     - "127.0.0.1:8080"
 *     - {address: "0.0.0.0:8081", h2c: true}                   # plain: HTTP/1.1 and h2c with prior knowledge
 *     - address: "0.0.0.0:8443"
 *       tls: {cert: site.pem, key: site.key,                    # default certificate
 *             sni: [{cert: api.pem, key: api.key},              # names from the certificate
 *                   {names: [img.example.com], cert: w.pem, key: w.key}]}
 *       http2: true                                             # TLS: ALPN h2 + http/1.1 (default true)
 *
 * The output is always a list of normalised entries.
 */
import {z} from 'zod'

import {parseHostPort} from './sizes.js'
import {bytes, duration, hostPort} from './zod-units.js'
import {isUsableName, normalizeServerName} from '../tls/cert-names.js'

const file = z.string().min(1)

const serverName = z
  .string()
  .min(1)
  .transform((v) => normalizeServerName(v) ?? v)
  .refine((v) => isUsableName(v), {message: 'expected a DNS name or a wildcard of one label, e.g. www.example.com or *.example.com'})

const SniEntrySchema = z.strictObject({
  /** Names to serve with this certificate; default: every name it covers. */
  names: z.array(serverName).min(1).optional(),
  cert: file,
  key: file,
})

const ListenerTlsSchema = z.strictObject({
  /** PEM: the certificate, then its intermediates. Used without SNI and for names no `sni` entry serves. */
  cert: file,
  key: file,
  sni: z.array(SniEntrySchema).default([]),
})

const ListenerObjectSchema = z
  .strictObject({
    address: hostPort,
    tls: ListenerTlsSchema.optional(),
    /** TLS listeners: offer HTTP/2 by ALPN (h2, then http/1.1). Default true. */
    http2: z.boolean().optional(),
    /** Plain listeners: also accept HTTP/2 with prior knowledge (h2c) on the same port. Default false. */
    h2c: z.boolean().default(false),
  })
  .refine((l) => !(l.h2c && l.tls), {message: 'h2c is HTTP/2 without TLS; on a TLS listener use http2', path: ['h2c']})
  .refine((l) => !(l.http2 !== undefined && !l.tls), {message: 'http2 applies to TLS listeners (ALPN); a plain listener takes h2c: true', path: ['http2']})

export interface ListenerConfig {
  /** As written, e.g. "0.0.0.0:8443". */
  address: string
  host: string
  port: number
  scheme: 'http' | 'https'
  tls: z.output<typeof ListenerTlsSchema> | undefined
  /** Serve HTTP/2: TLS → by ALPN; plain → h2c prior knowledge. */
  http2: boolean
}

function normalize(entry: string | z.output<typeof ListenerObjectSchema>): ListenerConfig {
  const e = typeof entry === 'string' ? {address: entry, tls: undefined, http2: undefined, h2c: false} : entry
  const {host, port} = parseHostPort(e.address)!
  return {address: e.address, host, port, scheme: e.tls ? 'https' : 'http', tls: e.tls, http2: e.tls ? e.http2 !== false : e.h2c}
}

const entry = z.union([hostPort, ListenerObjectSchema])

export const ListenSchema = z
  .union([entry, z.array(entry).min(1, {message: 'at least one listener'})])
  .default('127.0.0.1:8080')
  .transform((v) => (Array.isArray(v) ? v : [v]).map(normalize))
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>()
    list.forEach((l, i) => {
      // Port 0 asks for any free port: never a clash.
      if (l.port === 0) return
      const k = `${l.host.toLowerCase()}:${l.port}`
      const first = seen.get(k)
      if (first !== undefined) ctx.addIssue({code: 'custom', message: `${l.address} is listed twice (entries ${first} and ${i})`, path: [i]})
      else seen.set(k, i)
    })
  })

const RateSchema = (burst: number, perSecond: number) =>
  z
    .strictObject({
      burst: z.number().int().min(1).max(1_000_000).default(burst),
      perSecond: z.number().min(0).max(1_000_000).default(perSecond),
    })
    .prefault({})


export const Http2LimitsSchema = z
  .strictObject({
    /** Streams a client may have open at once per connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
    maxConcurrentStreams: z.number().int().min(1).max(10_000).default(100),
    /** Largest request header list (RFC 9113 §6.5.2: names + values + 32 per field); larger → 431. */
    maxHeaderListSize: bytes('32KiB').refine((n) => n >= 1024 && n <= 1024 * 1024, {message: 'maxHeaderListSize must be between 1KiB and 1MiB'}),
    /** Header fields per request (pseudo-headers included). */
    maxHeaderFields: z.number().int().min(8).max(10_000).default(128),
    /** An HTTP/2 connection without any frame for this long is closed (GOAWAY) when no stream is open. */
    idleTimeout: duration('60s'),
    /** Streams the client resets before their response is complete (rapid reset, CVE-2023-44487). */
    resets: RateSchema(200, 50),
    /** PING frames from the client. */
    pings: RateSchema(50, 10),
    /** SETTINGS frames from the client. */
    settings: RateSchema(20, 2),
  })
  .prefault({})

export type Http2Limits = z.output<typeof Http2LimitsSchema>

/** What a reload cannot change in running listeners: addresses and protocols (certificate files are re-read). */
export function listenShape(list: readonly ListenerConfig[]): string {
  return JSON.stringify(list.map((l) => [l.address, l.scheme, l.http2]))
}
