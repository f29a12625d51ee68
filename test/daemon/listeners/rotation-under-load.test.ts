// Certificate rotation under load (bounded: ~4 s on loopback): new TLS connections and long-lived HTTP/2 sessions keep
// going while the certificate files are replaced and reloaded halfway. No request fails, established sessions stay up,
// and every handshake that starts after the reload gets the new certificate. A broken certificate on a second reload
// is refused and the rotated one keeps serving.
import {X509Certificate} from 'node:crypto'
import fs from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import path from 'node:path'
import type tls from 'node:tls'

import {afterAll, beforeAll, expect, it} from 'vitest'

import {createTestCa, type IssuedCert, type TestCa} from '../../helpers/certs.js'
import {startPlane} from '../../helpers/plane.js'

let ca: TestCa
let first: IssuedCert
let second: IssuedCert

beforeAll(async () => {
  ca = await createTestCa()
  first = await ca.issue({names: ['rotate.test']})
  second = await ca.issue({names: ['rotate.test']})
}, 30_000)
afterAll(async () => {
  await ca?.cleanup()
})

const fp = (c: IssuedCert) => new X509Certificate(c.certPem).fingerprint256

function newConnectionGet(port: number): Promise<{ok: boolean; cert: string; startedAt: number}> {
  const startedAt = Date.now()
  return new Promise((resolve) => {
    const req = https.request({host: '127.0.0.1', port, path: '/', servername: 'rotate.test', ca: ca.certPem, agent: false, headers: {host: 'rotate.test'}}, (res) => {
      const cert = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256
      res.resume()
      res.on('end', () => resolve({ok: res.statusCode === 200, cert, startedAt}))
      res.on('error', () => resolve({ok: false, cert, startedAt}))
    })
    req.on('error', () => resolve({ok: false, cert: '', startedAt}))
    req.end()
  })
}

function h2Get(session: http2.ClientHttp2Session): Promise<boolean> {
  return new Promise((resolve) => {
    const s = session.request({':path': '/h2'})
    s.on('response', (h) => {
      s.resume()
      s.on('end', () => resolve(h[':status'] === 200))
    })
    s.on('error', () => resolve(false))
  })
}

it('rotating the certificate under load: 0 failed requests, sessions stay up, new handshakes see the new certificate', async () => {
  const dir = fs.mkdtempSync(path.join(ca.dir, 'rot-'))
  const certFile = path.join(dir, 'site.crt')
  const keyFile = path.join(dir, 'site.key')
  fs.writeFileSync(certFile, first.certPem)
  fs.writeFileSync(keyFile, first.keyPem)
  const p = await startPlane([{address: '127.0.0.1:0', tls: {cert: certFile, key: keyFile}}], (_req, res) => res.end('ok'))
  const port = p.bound[0]!.port
  const sessions = Array.from({length: 2}, () => {
    const s = http2.connect(`https://127.0.0.1:${port}`, {ca: ca.certPem, servername: 'rotate.test'})
    s.on('error', () => {})
    return s
  })

  const durationMs = 4000
  const t0 = Date.now()
  let swappedAt = Infinity
  const results: Array<{ok: boolean; cert: string; startedAt: number}> = []
  let h2Ok = 0
  let h2Failed = 0
  const swap = (async () => {
    await new Promise((r) => setTimeout(r, durationMs / 2))
    // Written the way certbot/editors do: new files renamed over the old ones, then reload.
    fs.writeFileSync(`${certFile}.new`, second.certPem)
    fs.writeFileSync(`${keyFile}.new`, second.keyPem)
    fs.renameSync(`${keyFile}.new`, keyFile)
    fs.renameSync(`${certFile}.new`, certFile)
    const r = await p.plane.reloadCertificates()
    swappedAt = Date.now()
    return r
  })()
  const workers = [
    ...Array.from({length: 6}, async () => {
      while (Date.now() - t0 < durationMs) results.push(await newConnectionGet(port))
    }),
    ...sessions.map(async (s) => {
      while (Date.now() - t0 < durationMs) {
        if (await h2Get(s)) h2Ok++
        else h2Failed++
      }
    }),
  ]
  await Promise.all(workers)
  const reload = await swap

  expect(reload).toEqual([expect.objectContaining({ok: true, changed: true})])
  expect(results.filter((r) => !r.ok)).toEqual([])
  expect(h2Failed).toBe(0)
  expect(h2Ok).toBeGreaterThan(0)
  const after = results.filter((r) => r.startedAt > swappedAt)
  const before = results.filter((r) => r.startedAt + 50 < swappedAt - 200)
  expect(after.length).toBeGreaterThan(0)
  expect(new Set(after.map((r) => r.cert))).toEqual(new Set([fp(second)]))
  expect(before.every((r) => r.cert === fp(first))).toBe(true)
  // The sessions opened before the rotation are the same ones, still up.
  expect(sessions.every((s) => !s.destroyed && !s.closed)).toBe(true)

  // A broken certificate on the next reload is refused; the rotated one keeps serving.
  fs.writeFileSync(certFile, first.certPem) // first's certificate with second's key: mismatch
  const broken = await p.plane.reloadCertificates()
  expect(broken).toEqual([expect.objectContaining({ok: false, errors: [expect.stringMatching(/does not match/)]})])
  expect((await newConnectionGet(port)).cert).toBe(fp(second))
  expect(p.plane.certificates()[0]!.fingerprint256).toBe(fp(second))

  for (const s of sessions) s.destroy()
  await p.close()
}, 30_000)
