/**
 * The start-up checks of TLS, origin TLS and the admin token (part of preflight: `serve`, `reload` and
 * `tavern config check` run them): every listener's certificates and keys are read and checked (unreadable, no PEM,
 * key mismatch, expired or not yet valid, chain order, names not covered), the origins' CA / client certificate,
 * forwardProxy.tls.ca, and the admin token file (owner-only, long enough). Each problem names its key: `listen[1].tls.sni[0]: …`.
 */
import path from 'node:path'

import {readAdminToken, TokenFileError} from '../admin/tcp-auth.js'
import {CertStore, CertStoreError} from '../tls/cert-store.js'
import type {TavernConfig} from './schema.js'

async function listenerProblems(c: TavernConfig, baseDir: string): Promise<string[]> {
  const out: string[] = []
  for (const [i, l] of c.listen.entries()) {
    if (!l.tls) continue
    try {
      const store = await CertStore.open({default: {cert: l.tls.cert, key: l.tls.key}, sni: l.tls.sni}, {globals: c.tls, baseDir, label: l.address})
      store.close()
    } catch (error) {
      if (!(error instanceof CertStoreError)) throw error
      out.push(...error.errors.map((e) => `listen[${i}].${e}`))
    }
  }
  return out
}

async function originProblems(c: TavernConfig, baseDir: string): Promise<string[]> {
  if (!c.upstream.tls && !c.upstream.http2) return []
  // Loads undici: only when origin TLS is configured.
  const {loadOriginTls, OriginTlsError} = await import('../proxy/origin/origin-tls.js')
  try {
    await loadOriginTls(c.upstream.tls, {http2: c.upstream.http2, urls: c.upstreams.map((u) => u.url), baseDir})
    return []
  } catch (error) {
    if (error instanceof OriginTlsError) return [`upstream.${error.message}`]
    throw error
  }
}

async function forwardProblems(c: TavernConfig, baseDir: string): Promise<string[]> {
  if (!c.forwardProxy.enabled || c.forwardProxy.tls.ca === undefined) return []
  const {loadForwardTls, ForwardTlsError} = await import('../proxy/origin/forward-origins.js')
  try {
    await loadForwardTls(c.forwardProxy.tls, baseDir)
    return []
  } catch (error) {
    if (error instanceof ForwardTlsError) return [error.message]
    throw error
  }
}

async function adminProblems(c: TavernConfig, baseDir: string): Promise<string[]> {
  if (c.admin.listen === undefined || c.admin.tokenFile === undefined) return []
  try {
    await readAdminToken(path.resolve(baseDir, c.admin.tokenFile))
    return []
  } catch (error) {
    if (error instanceof TokenFileError) return [`admin.tokenFile: ${error.message}`]
    throw error
  }
}

export async function tlsPreflight(c: TavernConfig, baseDir = process.cwd()): Promise<string[]> {
  const [a, b, d, f] = await Promise.all([listenerProblems(c, baseDir), originProblems(c, baseDir), adminProblems(c, baseDir), forwardProblems(c, baseDir)])
  return [...a, ...b, ...d, ...f]
}
