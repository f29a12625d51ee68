/**
 * Certificate expiry for `tavern status` and `/metrics`: one line per distinct certificate (the same certificate on
 * two listeners is one certificate), named by its first name.
 *
 * The metric is `tavern_tls_certificate_expiry_seconds{name}`: seconds until notAfter, computed at scrape time
 * (negative once a served certificate has expired). Alert on e.g. `< 14 * 86400`.
 */
import {Counter, Gauge, type Registry} from 'prom-client'

import type {CertificateInfo} from './cert-store.js'

export const EXPIRY_METRIC = 'tavern_tls_certificate_expiry_seconds'
export const EXPIRY_METRIC_HELP = 'Seconds until the TLS certificate expires (negative: expired), per certificate, named by its first server name'

export interface ExpirySample {
  labels: {name: string}
  value: number
}

export function expirySamples(certs: readonly CertificateInfo[]): ExpirySample[] {
  const seen = new Set<string>()
  const names = new Map<string, number>()
  const out: ExpirySample[] = []
  for (const c of certs) {
    if (seen.has(c.fingerprint256)) continue
    seen.add(c.fingerprint256)
    let name = c.names[0] ?? c.subject
    // Two different certificates for the same first name (e.g. during a staged rollout on two listeners): keep both.
    const n = (names.get(name) ?? 0) + 1
    names.set(name, n)
    if (n > 1) name = `${name}#${n}`
    out.push({labels: {name}, value: c.secondsLeft})
  }
  return out
}

/** The status view: names, expiry and how long is left, soonest first. */
export function expirySummary(certs: readonly CertificateInfo[]): Array<Pick<CertificateInfo, 'listener' | 'role' | 'names' | 'notAfter' | 'secondsLeft' | 'fingerprint256' | 'certFile'>> {
  return [...certs]
    .sort((a, b) => a.secondsLeft - b.secondsLeft)
    .map(({listener, role, names, notAfter, secondsLeft, fingerprint256, certFile}) => ({listener, role, names, notAfter, secondsLeft, fingerprint256, certFile}))
}

/** One certificate as status shows it (CertificateStatus of the admin protocol). */
export function certificateStatus(certs: readonly CertificateInfo[], expiryWarningMs: number): Array<ReturnType<typeof expirySummary>[number] & {expiringSoon: boolean}> {
  return expirySummary(certs).map((c) => ({...c, expiringSoon: c.secondsLeft * 1000 < expiryWarningMs}))
}

/**
 * Register `tavern_tls_certificate_expiry_seconds{name}` and the TLS / HTTP/2 counters on a Prometheus registry,
 * read from `source` at scrape time (seconds left are computed then, not at load).
 */
export function registerTlsMetrics(
  registry: Registry,
  source: () => {certificates: readonly CertificateInfo[]; handshakeFailures: number; floods: Record<'resets' | 'pings' | 'settings', number>},
): void {
  const registers = [registry]
  new Gauge({
    name: EXPIRY_METRIC,
    help: EXPIRY_METRIC_HELP,
    labelNames: ['name'] as const,
    registers,
    collect() {
      this.reset()
      for (const s of expirySamples(source().certificates)) this.set(s.labels, s.value)
    },
  })
  new Counter({
    name: 'tavern_tls_handshake_failures_total',
    help: 'TLS handshakes that failed (bad client hello, protocol or cipher mismatch, timeout)',
    registers,
    collect() {
      this.reset()
      this.inc(source().handshakeFailures)
    },
  })
  new Counter({
    name: 'tavern_http2_flood_sessions_total',
    help: 'HTTP/2 sessions closed with ENHANCE_YOUR_CALM for a flood, by kind (resets, pings, settings)',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      this.reset()
      for (const [kind, n] of Object.entries(source().floods)) this.inc({kind}, n)
    },
  })
}
