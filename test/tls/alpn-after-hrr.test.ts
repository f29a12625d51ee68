// ALPN after a TLS 1.3 HelloRetryRequest. A client that sends its key share for a group the server does not take
// (here X448, which the listener's `tls.ecdhCurve` lacks) gets a HelloRetryRequest and sends a second ClientHello
// (RFC 8446 §4.1.4); the handshake then ends on a group of the server's list. Whatever certificate SNI picked, the
// protocol agreed by ALPN must still be h2 (or http/1.1 when that is all either side offers), and an h2 request over
// that connection must be answered.

import http2 from 'node:http2'
import tls from 'node:tls'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createTestCa, type IssuedCert, type TestCa} from '../helpers/certs.js'
import {type Plane, startPlane} from '../helpers/plane.js'

let ca: TestCa
let site: IssuedCert
let api: IssuedCert
let h2Plane: Plane
let h1Plane: Plane

/** Key share for X448 first: the server (X25519, P-256, P-384) must ask again, for P-256. */
const HRR_GROUPS = 'X448:prime256v1'

beforeAll(async () => {
  ca = await createTestCa()
  site = await ca.issue({names: ['site.test']})
  api = await ca.issue({names: ['api.test']})
  const listen = (http2on: boolean) => [{address: '127.0.0.1:0', http2: http2on, tls: {cert: site.chainFile, key: site.keyFile, sni: [{cert: api.chainFile, key: api.keyFile}]}}]
  const handler = (_req: unknown, res: import('node:http').ServerResponse) => res.end('ok')
  h2Plane = await startPlane(listen(true), handler, {tls: {ecdhCurve: 'X25519:prime256v1:secp384r1'}})
  h1Plane = await startPlane(listen(false), handler, {tls: {ecdhCurve: 'X25519:prime256v1:secp384r1'}})
}, 30_000)

afterAll(async () => {
  await h2Plane?.close()
  await h1Plane?.close()
  await ca?.cleanup()
})

interface Negotiated {
  alpn: string | false
  protocol: string | null
  group: string | undefined
  subjectAltName: string
}

function connect(port: number, opts: {servername?: string; groups: string; alpn: string[]}): Promise<Negotiated> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({port, host: '127.0.0.1', servername: opts.servername, ca: ca.certPem, rejectUnauthorized: opts.servername !== undefined, ALPNProtocols: opts.alpn, ecdhCurve: opts.groups, minVersion: 'TLSv1.3'}, () => {
      const r = {alpn: s.alpnProtocol ?? false, protocol: s.getProtocol(), group: (s.getEphemeralKeyInfo() as {name?: string} | null)?.name, subjectAltName: s.getPeerCertificate().subjectaltname ?? ''}
      s.destroy()
      resolve(r)
    })
    s.setTimeout(5000, () => s.destroy(new Error('handshake timed out')))
    s.on('error', reject)
  })
}

const port = (p: Plane) => p.bound[0]!.port

describe('ALPN after a HelloRetryRequest', () => {
  it('without a retry (key share for X25519) h2 is agreed: the baseline', async () => {
    const r = await connect(port(h2Plane), {servername: 'api.test', groups: 'X25519', alpn: ['h2', 'http/1.1']})
    expect(r).toMatchObject({alpn: 'h2', protocol: 'TLSv1.3', group: 'X25519'})
  })

  for (const servername of ['site.test', 'api.test', undefined]) {
    it(`after a retry, SNI ${servername ?? '(none)'}: h2 is agreed, or http/1.1 when the client offers only that`, async () => {
      const r = await connect(port(h2Plane), {servername, groups: HRR_GROUPS, alpn: ['h2', 'http/1.1']})
      // The client's only key share was X448; ending on P-256 means the server asked again.
      expect(r.group).toBe('prime256v1')
      expect(r.protocol).toBe('TLSv1.3')
      expect(r.subjectAltName).toContain(servername === 'api.test' ? 'api.test' : 'site.test')
      expect(r.alpn).toBe('h2')
      expect((await connect(port(h2Plane), {servername, groups: HRR_GROUPS, alpn: ['http/1.1']})).alpn).toBe('http/1.1')
    })
  }

  it('after a retry, a listener with http2: false agrees on http/1.1 even when the client offers h2 first', async () => {
    const r = await connect(port(h1Plane), {servername: 'api.test', groups: HRR_GROUPS, alpn: ['h2', 'http/1.1']})
    expect(r).toMatchObject({alpn: 'http/1.1', group: 'prime256v1'})
  })

  it('an HTTP/2 client that triggers a retry gets its answer over h2', async () => {
    const session = http2.connect(`https://api.test:${port(h2Plane)}`, {
      createConnection: () => tls.connect({port: port(h2Plane), host: '127.0.0.1', servername: 'api.test', ca: ca.certPem, ALPNProtocols: ['h2'], ecdhCurve: HRR_GROUPS}),
    })
    session.on('error', () => {})
    try {
      const answer = await new Promise<{status: number; body: string}>((resolve, reject) => {
        const st = session.request({':path': '/'})
        let status = 0
        let body = ''
        st.setEncoding('utf8')
        st.on('response', (h) => (status = Number(h[':status'])))
        st.on('data', (c: string) => (body += c))
        st.on('end', () => resolve({status, body}))
        st.on('error', reject)
        st.setTimeout(5000, () => st.close())
      })
      expect(answer).toEqual({status: 200, body: 'ok'})
    } finally {
      session.close()
    }
  })
})
