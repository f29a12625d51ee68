/**
 * TLS client probes for tests: which certificate a handshake gets, whether a session resumes.
 *
 *   const h = await handshake(port, {servername: 'a.test', ca: ca.certPem})
 *   h.fingerprint256; h.names; h.alpn; h.reused; h.session  // then handshake(port, {session: h.session}) resumes
 */
import tls from 'node:tls'

export interface HandshakeResult {
  fingerprint256: string
  /** subjectAltName as Node prints it. */
  subjectAltName: string
  alpn: string | false
  protocol: string | null
  reused: boolean
  /** The session to resume with (TLS 1.3: the first ticket; waits briefly for it). */
  session: Buffer | undefined
  authorized: boolean
}

export interface HandshakeOptions {
  servername?: string
  ca?: string | string[]
  session?: Buffer
  ALPNProtocols?: string[]
  minVersion?: tls.SecureVersion
  maxVersion?: tls.SecureVersion
  host?: string
  timeoutMs?: number
}

export function handshake(port: number, opts: HandshakeOptions = {}): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      port,
      host: opts.host ?? '127.0.0.1',
      servername: opts.servername,
      ca: opts.ca,
      session: opts.session,
      ALPNProtocols: opts.ALPNProtocols,
      minVersion: opts.minVersion,
      maxVersion: opts.maxVersion,
      // Identity is checked by the test (fingerprint, names); a test CA may not cover 127.0.0.1.
      rejectUnauthorized: false,
    })
    let session: Buffer | undefined
    let settled = false
    const timer = setTimeout(() => finish(new Error('handshake timed out')), opts.timeoutMs ?? 5000)
    const finish = (err?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (err) {
        s.destroy()
        reject(err)
        return
      }
      const cert = s.getPeerCertificate()
      const result: HandshakeResult = {
        fingerprint256: cert.fingerprint256,
        subjectAltName: cert.subjectaltname ?? '',
        alpn: s.alpnProtocol ?? false,
        protocol: s.getProtocol(),
        reused: s.isSessionReused(),
        session: session ?? s.getSession(),
        authorized: s.authorized,
      }
      s.end()
      s.destroy()
      resolve(result)
    }
    s.on('session', (sess: Buffer) => {
      session ??= sess
      if (s.getProtocol() === 'TLSv1.3') finish()
    })
    s.once('secureConnect', () => {
      // TLS 1.2 sessions are ready now; TLS 1.3 tickets come just after the handshake (or never, when disabled).
      if (s.getProtocol() !== 'TLSv1.3' || session) finish()
      else setTimeout(() => finish(), 200)
    })
    s.once('error', (e) => finish(e))
  })
}
