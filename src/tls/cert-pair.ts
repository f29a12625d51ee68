/**
 * One certificate chain + private key, read from PEM files and checked before anything serves it: every certificate
 * parses, the first one is the server's and matches the key, it is inside its validity window, each following
 * certificate issued the one before it, and the names it is to serve are ones it covers. Each refusal names the file
 * and says what is wrong and what to do.
 */
import {createHash, createPrivateKey, type KeyObject, X509Certificate} from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'

import {type CoveredNames, coveredNames, nameMatches, normalizeServerName, subjectCommonName} from './cert-names.js'

export interface CertPairSpec {
  /** PEM file: the server certificate first, then its intermediates in order. */
  cert: string
  /** PEM file with the private key (PKCS#8, PKCS#1 or SEC1), not encrypted. */
  key: string
  /** Server names to use this certificate for; default: every name it covers. */
  names?: readonly string[]
}

export interface LoadedCertPair {
  readonly certFile: string
  readonly keyFile: string
  /** The chain as read (PEM), what the server sends. */
  readonly certPem: string
  readonly key: KeyObject
  /** The key as read, for tls.createSecureContext. */
  readonly keyPem: string
  readonly leaf: X509Certificate
  readonly chain: readonly X509Certificate[]
  readonly covered: CoveredNames
  /** The names SNI selects this certificate for (normalised). */
  readonly names: readonly string[]
  readonly notBefore: Date
  readonly notAfter: Date
  /** SHA-256 of the certificate and key files' contents: an unchanged pair is not rebuilt. */
  readonly contentHash: string
  /** Served anyway, but worth telling the operator (expiring soon, CA certificate as leaf, …). */
  readonly warnings: readonly string[]
}

/** A certificate (or its key) that cannot be served; the message names the file. */
export class CertificateError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message)
    this.name = 'CertificateError'
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g

function describe(cert: X509Certificate): string {
  const cn = subjectCommonName(cert.subject)
  return cn ? `CN=${cn}` : cert.subject.replace(/\n/g, ', ') || `serial ${cert.serialNumber}`
}

async function readFile(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8')
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : e.message
    throw new CertificateError(file, `cannot read the ${what} file ${file}: ${why}`)
  }
}

function parseChain(file: string, pem: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? []
  if (blocks.length === 0) throw new CertificateError(file, `${file} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----")`)
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b)
    } catch (error) {
      throw new CertificateError(file, `certificate ${i + 1} in ${file} cannot be parsed: ${(error as Error).message}`)
    }
  })
}

function parseKey(file: string, pem: string): KeyObject {
  // OpenSSL's own message for these is "interrupted or cancelled" (no passphrase callback): say what it means.
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(pem)
  try {
    if (encrypted) throw Object.assign(new Error('encrypted'), {code: 'ERR_MISSING_PASSPHRASE'})
    return createPrivateKey({key: pem, format: 'pem'})
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    if (e.code === 'ERR_MISSING_PASSPHRASE' || /passphrase|encrypted/i.test(e.message))
      throw new CertificateError(file, `the private key in ${file} is encrypted; Tavern needs an unencrypted key (e.g. openssl pkey -in ${path.basename(file)} -out key.pem), readable by the daemon only`)
    throw new CertificateError(file, `${file} holds no usable private key: ${e.message}`)
  }
}

/**
 * Read and check a pair. `now` is the clock (ms) the validity window is checked against; `expiryWarningMs` is how
 * close to its end a certificate gets a warning.
 */
export async function loadCertPair(spec: CertPairSpec, opts: {baseDir?: string; now?: number; expiryWarningMs?: number} = {}): Promise<LoadedCertPair> {
  const base = opts.baseDir ?? process.cwd()
  const certFile = path.resolve(base, spec.cert)
  const keyFile = path.resolve(base, spec.key)
  const [certPem, keyPem] = await Promise.all([readFile(certFile, 'certificate'), readFile(keyFile, 'private key')])
  const chain = parseChain(certFile, certPem)
  const key = parseKey(keyFile, keyPem)
  if (key.type !== 'private') throw new CertificateError(keyFile, `${keyFile} holds a public key, not a private key`)

  const leaf = chain[0]!
  if (!leaf.checkPrivateKey(key)) {
    const other = chain.findIndex((c) => c.checkPrivateKey(key))
    if (other > 0)
      throw new CertificateError(certFile, `the private key in ${keyFile} belongs to certificate ${other + 1} in ${certFile} (${describe(chain[other]!)}): the server's certificate must come first, then its intermediates`)
    throw new CertificateError(keyFile, `the private key in ${keyFile} does not match the certificate in ${certFile} (${describe(leaf)}, SHA-256 ${leaf.fingerprint256})`)
  }

  const now = opts.now ?? Date.now()
  const notBefore = new Date(leaf.validFrom)
  const notAfter = new Date(leaf.validTo)
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime()))
    throw new CertificateError(certFile, `the certificate in ${certFile} has a validity period Node cannot read (${leaf.validFrom} – ${leaf.validTo})`)
  if (now < notBefore.getTime())
    throw new CertificateError(certFile, `the certificate in ${certFile} (${describe(leaf)}) is not valid yet: valid from ${notBefore.toISOString()} to ${notAfter.toISOString()}, now is ${new Date(now).toISOString()} (check the clock, or wait)`)
  if (now > notAfter.getTime())
    throw new CertificateError(certFile, `the certificate in ${certFile} (${describe(leaf)}) has expired: valid from ${notBefore.toISOString()} to ${notAfter.toISOString()}, now is ${new Date(now).toISOString()}`)

  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i]!
    const parent = chain[i + 1]!
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey))
      throw new CertificateError(
        certFile,
        `certificate ${i + 2} in ${certFile} (${describe(parent)}) did not issue certificate ${i + 1} (${describe(child)}, issuer ${child.issuer.replace(/\n/g, ', ')}): put the server's certificate first, then each certificate's issuer after it`,
      )
  }

  const warnings: string[] = []
  const covered = coveredNames(leaf)
  if (covered.dns.length === 0) throw new CertificateError(certFile, `the certificate in ${certFile} (${describe(leaf)}) names no DNS host (no DNS subjectAltName and no usable CN), so no client could accept it`)
  if (covered.fromCn) warnings.push(`${certFile}: no subjectAltName, using the subject CN ${covered.dns[0]} (most clients no longer accept CN-only certificates)`)
  if (covered.unusable.length) warnings.push(`${certFile}: names that cannot match a server name are ignored: ${covered.unusable.join(', ')}`)
  if (leaf.ca) warnings.push(`${certFile}: the first certificate is a CA certificate (basicConstraints CA:TRUE); clients expect a server certificate first`)
  const left = notAfter.getTime() - now
  if (opts.expiryWarningMs !== undefined && left < opts.expiryWarningMs) warnings.push(`${certFile}: the certificate (${describe(leaf)}) expires at ${notAfter.toISOString()} (in ${Math.floor(left / 3_600_000)} h)`)
  for (let i = 1; i < chain.length; i++) {
    const until = new Date(chain[i]!.validTo).getTime()
    if (until < now) warnings.push(`${certFile}: certificate ${i + 1} (${describe(chain[i]!)}) expired at ${new Date(until).toISOString()}; clients that build the chain through it will fail`)
  }

  let names: string[]
  if (spec.names && spec.names.length > 0) {
    names = []
    for (const raw of spec.names) {
      const n = normalizeServerName(raw)
      if (n === undefined) continue
      // A wildcard is served only where the certificate has that very wildcard; a plain name may fall under one.
      const ok = n.startsWith('*.') ? covered.dns.includes(n) : covered.dns.some((p) => nameMatches(p, n))
      if (!ok) throw new CertificateError(certFile, `${raw} is not covered by the certificate in ${certFile} (it covers ${covered.dns.join(', ')}); clients would refuse it for that name`)
      names.push(n)
    }
  } else {
    names = covered.dns
  }

  const contentHash = createHash('sha256').update(certPem).update('\0').update(keyPem).digest('hex')
  return {certFile, keyFile, certPem, key, keyPem, leaf, chain, covered, names, notBefore, notAfter, contentHash, warnings}
}
