/**
 * TLS and HTTP/2 towards the origins of an upstream group:
 *
 *   upstream:
 *     http2: true                       # undici allowH2: h2 by ALPN when the origin offers it, else HTTP/1.1
 *     tls:
 *       ca: /etc/tavern/origin-ca.pem   # trust these CAs (instead of the system's) for the origin's certificate
 *       servername: origin.internal     # SNI and the name the certificate is checked against
 *       cert: /etc/tavern/client.pem    # client certificate (mutual TLS), with key
 *       key: /etc/tavern/client.key
 *       insecure: false                 # true: do not verify the origin's certificate (logged as a warning)
 *
 * loadOriginTls() reads and checks the files (config load and reload: a bad file refuses the config);
 * poolTlsOptions() maps the result onto undici Pool options (`connect` TLS options + `allowH2`).
 */
import {X509Certificate} from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'

import {isIP} from 'node:net'

import {buildConnector, type Pool} from 'undici'

import type {OriginTlsConfig} from '../../config/tls.js'
import {CertificateError, loadCertPair} from '../../tls/cert-pair.js'

export {OriginProtocolFields, type OriginTlsConfig, OriginTlsSchema} from '../../config/tls.js'

export interface LoadedOriginTls {
  ca: string[] | undefined
  servername: string | undefined
  cert: string | undefined
  key: string | undefined
  insecure: boolean
  /** For messages: the files read. */
  files: string[]
  /** E.g. a client certificate close to expiry. */
  warnings: string[]
}

/** The origin TLS files cannot be used; the message names the key and file. */
export class OriginTlsError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'OriginTlsError'
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g

async function readCa(file: string): Promise<string> {
  let pem: string
  try {
    pem = await fs.readFile(file, 'utf8')
  } catch (error) {
    throw new OriginTlsError(`tls.ca: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
  const blocks = pem.match(PEM_CERT) ?? []
  if (blocks.length === 0) throw new OriginTlsError(`tls.ca: ${file} holds no PEM certificate`)
  blocks.forEach((b, i) => {
    try {
      new X509Certificate(b)
    } catch (error) {
      throw new OriginTlsError(`tls.ca: certificate ${i + 1} in ${file} cannot be parsed: ${(error as Error).message}`)
    }
  })
  return pem
}

/**
 * Read the files of a group's `tls` (relative paths from baseDir). `urls` are the group's upstream URLs: TLS
 * settings and http2 apply to https:// ones only, so with http:// members they are a config error.
 */
export async function loadOriginTls(spec: OriginTlsConfig | undefined, opts: {http2: boolean; urls: readonly string[]; baseDir?: string; now?: number}): Promise<LoadedOriginTls | undefined> {
  const plain = opts.urls.filter((u) => u.startsWith('http://'))
  if ((spec || opts.http2) && plain.length > 0)
    throw new OriginTlsError(`${spec ? 'tls' : 'http2'} applies to https:// upstreams, but ${plain.join(', ')} ${plain.length === 1 ? 'is' : 'are'} http:// (HTTP/2 to origins is negotiated by TLS ALPN; h2c is not offered)`)
  if (!spec) return undefined
  const base = opts.baseDir ?? process.cwd()
  const files: string[] = []
  const warnings: string[] = []
  let ca: string[] | undefined
  if (spec.ca !== undefined) {
    const list = (Array.isArray(spec.ca) ? spec.ca : [spec.ca]).map((f) => path.resolve(base, f))
    files.push(...list)
    ca = await Promise.all(list.map(readCa))
  }
  let cert: string | undefined
  let key: string | undefined
  if (spec.cert !== undefined && spec.key !== undefined) {
    try {
      const pair = await loadCertPair({cert: spec.cert, key: spec.key}, {baseDir: base, now: opts.now, expiryWarningMs: 14 * 86_400_000})
      cert = pair.certPem
      key = pair.keyPem
      files.push(pair.certFile, pair.keyFile)
      warnings.push(...pair.warnings.filter((w) => !/subjectAltName|cannot match a server name/.test(w)))
    } catch (error) {
      if (error instanceof CertificateError) throw new OriginTlsError(`tls.cert / tls.key: ${error.message}`)
      throw error
    }
  }
  return {ca, servername: spec.servername, cert, key, insecure: spec.insecure, files, warnings}
}

const warnedInsecure = new Set<string>()

export interface OriginConnectOptions {
  /** undici Pool `connect`: a connector with the TLS options, ALPN for h2, and the fixed server name. */
  connect: NonNullable<Extract<Pool.Options['connect'], (...args: never[]) => unknown>>
  allowH2: boolean
  /**
   * Pass as `servername` on every pool.request(). undici otherwise takes the request's Host header as the TLS server
   * name, and a Client whose next request has another Host closes its connection and reconnects ("servername
   * changed"): a cache forwarding many sites' Hosts to one origin would reconnect on almost every request.
   */
  servername: string
}

/**
 * undici Pool options for one upstream of a group: TLS `connect` options, `allowH2`, and the server name to send.
 * The server name is `tls.servername`, else the upstream URL's host (like nginx's proxy_ssl_name), never the
 * client's Host; an IP address is not sent as SNI (RFC 6066) and the certificate is checked against the IP.
 * `insecure` is logged once per group name for the process's life (reloads keep quiet about what was said).
 */
export function originConnectOptions(
  group: string,
  upstreamUrl: string,
  tls: LoadedOriginTls | undefined,
  opts: {http2: boolean; connectTimeoutMs: number; log?: {warn(fields: Record<string, unknown>, msg: string): void}},
): OriginConnectOptions {
  const host = new URL(upstreamUrl).hostname.replace(/^\[|\]$/g, '')
  const servername = tls?.servername ?? host
  const tlsOptions: Record<string, unknown> = {}
  if (tls) {
    if (tls.ca) tlsOptions.ca = tls.ca
    if (tls.cert) {
      tlsOptions.cert = tls.cert
      tlsOptions.key = tls.key
    }
    if (tls.insecure) {
      tlsOptions.rejectUnauthorized = false
      if (!warnedInsecure.has(group)) {
        warnedInsecure.add(group)
        opts.log?.warn({upstream: group}, `upstream ${group}: tls.insecure is on, the origins' certificates are not verified (anyone on the path can impersonate them)`)
      }
    }
  }
  const base = buildConnector({...tlsOptions, allowH2: opts.http2, timeout: opts.connectTimeoutMs} as buildConnector.BuildOptions)
  const sni = isIP(servername) ? undefined : servername
  const connect: OriginConnectOptions['connect'] = (o, cb) => base({...o, servername: sni as string}, cb)
  return {connect, allowH2: opts.http2, servername}
}

/** For tests: forget which groups were warned about. */
export function resetInsecureWarnings(): void {
  warnedInsecure.clear()
}

/**
 * The `originConnect` of UpstreamOptions for a group: every https:// member gets a connector with the group's TLS
 * settings and a fixed server name (even without `tls`: the server name must not follow the client's Host).
 */
export function originConnectFactory(
  group: string,
  tls: LoadedOriginTls | undefined,
  opts: {http2: boolean; connectTimeoutMs: number; log?: {warn(fields: Record<string, unknown>, msg: string): void}},
): (url: string) => OriginConnectOptions {
  return (url) => originConnectOptions(group, url, tls, opts)
}
