/**
 * The host names a certificate covers, and how a TLS server name (SNI) matches them (RFC 6125 §6.4): DNS
 * subjectAltName entries, or the subject CN when the certificate has none; a wildcard is the whole left-most label
 * (`*.example.com`) and stands for exactly one label (`a.example.com`, not `example.com` nor `a.b.example.com`).
 */
import type {X509Certificate} from 'node:crypto'

export interface CoveredNames {
  /** DNS names (lower case, no trailing dot), wildcards included, in certificate order. */
  dns: string[]
  /** IP address entries (never matched by SNI: clients do not send IP addresses as server names). */
  ips: string[]
  /** The names came from the subject CN because the certificate has no DNS subjectAltName. */
  fromCn: boolean
  /** Entries that cannot match any server name (partial wildcards such as `f*.example.com`, empty labels). */
  unusable: string[]
}

/** Lower case, no trailing dot; undefined for an empty name. */
export function normalizeServerName(name: string | undefined | null): string | undefined {
  if (!name) return undefined
  let n = name
  // Most names arrive lower case: only copy when needed.
  if (/[A-Z]/.test(n)) n = n.toLowerCase()
  if (n.endsWith('.')) n = n.slice(0, -1)
  return n || undefined
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/

/** A DNS name or a `*.`-wildcard over at least two labels (so `*.test` is fine, `*` and `*.` are not). */
export function isUsableName(name: string): boolean {
  const labels = name.split('.')
  const rest = labels[0] === '*' ? labels.slice(1) : labels
  if (labels[0] === '*' && rest.length < 1) return false
  return rest.length >= 1 && rest.every((l) => LABEL.test(l)) && name.length <= 253
}

/** Whether `pattern` (a covered name, maybe `*.x.y`) matches the server name `name` (both normalised). */
export function nameMatches(pattern: string, name: string): boolean {
  if (pattern === name) return true
  if (!pattern.startsWith('*.')) return false
  const dot = name.indexOf('.')
  return dot > 0 && name.slice(dot + 1) === pattern.slice(2)
}

/**
 * Node prints subjectAltName as `DNS:a, DNS:b, IP Address:1.2.3.4`; entries holding characters that would make that
 * ambiguous are JSON-quoted (`DNS:"a,b"`).
 */
function splitAltNames(s: string): Array<{type: string; value: string}> {
  const out: Array<{type: string; value: string}> = []
  const re = /\s*([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)/g
  let m: RegExpExecArray | null
  while ((m = re.exec(s)) !== null && m[0] !== '') {
    let value = m[2]!.trim()
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string
      } catch {
        // keep it quoted: it will not be a usable name
      }
    }
    out.push({type: m[1]!.trim(), value})
  }
  return out
}

/** The subject's CN (the last one, as TLS clients that still fall back to it use), or undefined. */
export function subjectCommonName(subject: string): string | undefined {
  let cn: string | undefined
  for (const line of subject.split('\n')) if (line.startsWith('CN=')) cn = line.slice(3)
  return cn
}

export function coveredNames(cert: X509Certificate): CoveredNames {
  const dns: string[] = []
  const ips: string[] = []
  const unusable: string[] = []
  for (const {type, value} of splitAltNames(cert.subjectAltName ?? '')) {
    if (type === 'DNS') {
      const n = normalizeServerName(value)
      if (n && isUsableName(n)) dns.push(n)
      else unusable.push(value)
    } else if (type === 'IP Address') ips.push(value)
  }
  if (dns.length > 0 || ips.length > 0) return {dns, ips, fromCn: false, unusable}
  const cn = normalizeServerName(subjectCommonName(cert.subject))
  if (cn && isUsableName(cn)) return {dns: [cn], ips, fromCn: true, unusable}
  if (cn) unusable.push(cn)
  return {dns: [], ips, fromCn: true, unusable}
}
