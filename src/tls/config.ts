/**
 * `tls` config: settings shared by every TLS listener (the certificates are per listener, see
 * src/config/listeners.ts). Validated here, so a cipher string OpenSSL cannot use is a config error naming the
 * key, not a start-up crash.
 */
import tls from 'node:tls'

import {z} from 'zod'

import {duration} from '../config/zod-units.js'

/**
 * Mozilla's "intermediate" configuration (server-side TLS guidelines v5.7): the TLS 1.3 suites, then TLS 1.2 AEAD
 * suites with forward secrecy only (ECDHE, and DHE with the RFC 7919 ffdhe2048 group via `dhparam: 'auto'`).
 * No CBC, no RSA key exchange, no SHA-1 MACs. Serves every client since ~2014 (Firefox 27, Android 4.4.2, Chrome 31,
 * Safari 9, Java 8u31, OpenSSL 1.0.1).
 */
export const INTERMEDIATE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':')

/** Mozilla intermediate's groups, in its order. */
export const INTERMEDIATE_CURVES = 'X25519:prime256v1:secp384r1'

function opensslAccepts(opts: tls.SecureContextOptions): string | undefined {
  try {
    tls.createSecureContext(opts)
    return undefined
  } catch (error) {
    return (error as Error).message
  }
}

export const TlsGlobalsSchema = z
  .strictObject({
    /** Oldest protocol version accepted. */
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    /** OpenSSL cipher list (TLS 1.3 suites named TLS_*). Default: Mozilla intermediate. */
    ciphers: z
      .string()
      .min(1)
      .default(INTERMEDIATE_CIPHERS)
      .superRefine((v, ctx) => {
        const err = opensslAccepts({ciphers: v})
        if (err) ctx.addIssue({code: 'custom', message: `OpenSSL cannot use this cipher list (${err})`})
      }),
    /** Key exchange groups, most preferred first. */
    ecdhCurve: z
      .string()
      .min(1)
      .default(INTERMEDIATE_CURVES)
      .superRefine((v, ctx) => {
        const err = opensslAccepts({ecdhCurve: v})
        if (err) ctx.addIssue({code: 'custom', message: `OpenSSL cannot use these groups (${err})`})
      }),
    /** Prefer the server's cipher order (Mozilla intermediate: no, every suite in the list is strong). */
    honorCipherOrder: z.boolean().default(false),
    /** Session resumption with tickets (TLS 1.2 tickets and TLS 1.3 PSK). */
    sessionTickets: z.boolean().default(true),
    /** Ticket keys are replaced this often (a leaked key decrypts at most this much traffic); at least 1 minute. */
    sessionTicketRotation: duration('12h').refine((ms) => ms >= 60_000, {message: 'sessionTicketRotation must be at least 1m'}),
    /** Lifetime of a resumable session (tickets older than this are refused); at most 7 days (RFC 8446 §4.6.1). */
    sessionTimeout: duration('1h').refine((ms) => ms >= 1000 && ms <= 7 * 86_400_000, {message: 'sessionTimeout must be between 1s and 7d'}),
    /** A TLS handshake that does not complete within this is cut. */
    handshakeTimeout: duration('10s').refine((ms) => ms >= 100, {message: 'handshakeTimeout must be at least 100ms'}),
    /** Re-read certificates when their files change (on top of reload / SIGHUP). */
    watch: z.boolean().default(true),
    /** Warn (log and status) when a certificate expires within this. */
    expiryWarning: duration('14d'),
  })
  .prefault({})

export type TlsGlobals = z.output<typeof TlsGlobalsSchema>

/** Options every secure context of a listener is built with (certificate, key and ticket keys are added per context). */
export function baseContextOptions(g: TlsGlobals): tls.SecureContextOptions {
  return {
    minVersion: g.minVersion,
    ciphers: g.ciphers,
    ecdhCurve: g.ecdhCurve,
    honorCipherOrder: g.honorCipherOrder,
    // The RFC 7919 group for the DHE suites of the list (without it they could never be chosen).
    dhparam: 'auto',
    sessionTimeout: Math.floor(g.sessionTimeout / 1000),
  }
}
