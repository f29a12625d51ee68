/**
 * The config fragments of TLS, HTTP/2 and the admin TCP listener, in one place so schema.ts adds them in one line
 * each. The schemas live next to the code they configure; this file only gathers them, plus the origin-side
 * `upstream.http2` / `upstream.tls` (kept here so loading the config does not load undici).
 *
 *   listen:  string | [string | {address, tls?: {cert, key, sni?}, http2?, h2c?}]   (src/config/listeners.ts)
 *   tls:     protocol, ciphers, tickets, handshake timeout, watch, expiry warning   (src/tls/config.ts)
 *   http2:   stream / header limits and flood buckets                              (src/config/listeners.ts)
 *   admin:   {listen, tokenFile}                                                   (src/admin/tcp-listener.ts)
 *   upstream.http2, upstream.tls: towards the origins                              (src/proxy/origin/origin-tls.ts)
 */
import {z} from 'zod'

import {AdminConfigSchema} from '../admin/tcp-listener.js'
import {Http2LimitsSchema} from './listeners.js'
import {isUsableName, normalizeServerName} from '../tls/cert-names.js'
import {TlsGlobalsSchema} from '../tls/config.js'

export {ListenSchema, type ListenerConfig} from './listeners.js'

/** Top-level keys: `tls`, `http2`, `admin`. */
export const tlsConfigFields = {
  tls: TlsGlobalsSchema,
  http2: Http2LimitsSchema,
  admin: AdminConfigSchema,
}

export const OriginTlsSchema = z
  .strictObject({
    /** PEM file(s) of the CAs the origin's certificate must chain to; default: Node's bundled roots. */
    ca: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** Server name to send (SNI) and to verify the certificate against; default: the upstream URL's host. */
    servername: z
      .string()
      .min(1)
      .transform((v) => normalizeServerName(v) ?? v)
      .refine((v) => isUsableName(v) && !v.startsWith('*.'), {message: 'expected a DNS name, e.g. origin.internal'})
      .optional(),
    /** Client certificate (PEM, with its intermediates) for origins that require one; needs key. */
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** Do not verify the origin's certificate. For tests and broken origins only: logged as a warning. */
    insecure: z.boolean().default(false),
  })
  .refine((t) => (t.cert === undefined) === (t.key === undefined), {message: 'tls.cert and tls.key go together (a client certificate needs its key)', path: ['key']})

export type OriginTlsConfig = z.output<typeof OriginTlsSchema>

/** Per upstream group: `http2` and `tls` (fragment to merge into the group's strictObject). */
export const OriginProtocolFields = {
  /** Offer HTTP/2 to the origins (ALPN h2, falling back to HTTP/1.1); https:// upstreams only. */
  http2: z.boolean().default(false),
  tls: OriginTlsSchema.optional(),
}
