// The certificate store behind a real TLS server: SNI picks the right certificate, a reload swaps atomically for new
// handshakes without touching established connections, a broken reload keeps the old set serving, sessions resume
// across a rotation (shared ticket keys), and changed files are picked up by the watcher.
import {X509Certificate} from 'node:crypto'
import fs from 'node:fs'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import tls from 'node:tls'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {CertStore, CertStoreError, type CertStoreSpec} from '../../src/tls/cert-store.js'
import {TlsGlobalsSchema} from '../../src/tls/config.js'
import {expirySamples} from '../../src/tls/expiry.js'
import {TicketKeys} from '../../src/tls/ticket-keys.js'
import {createTestCa, daysAgo, type IssuedCert, type TestCa} from '../helpers/certs.js'
import {handshake} from '../helpers/tls-client.js'
import {waitFor} from '../helpers/wait.js'

const globals = TlsGlobalsSchema.parse({})
let ca: TestCa
let main: IssuedCert
let api: IssuedCert
let wild: IssuedCert
const cleanups: Array<() => void | Promise<void>> = []

beforeAll(async () => {
  ca = await createTestCa()
  main = await ca.issue({names: ['main.test']})
  api = await ca.issue({names: ['api.test']})
  wild = await ca.issue({names: ['*.wild.test']})
}, 30_000)
afterAll(async () => {
  await ca?.cleanup()
})
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function fingerprint(c: IssuedCert): string {
  return new X509Certificate(c.certPem).fingerprint256
}

/** A TLS server on the store, refreshing its default context on every swap (what the TLS listener does). */
async function serve(store: CertStore): Promise<{port: number; server: tls.Server}> {
  const server = tls.createServer({...store.defaultContextOptions, SNICallback: store.sniCallback}, (s) => {
    s.on('error', () => {})
    s.on('data', (d: Buffer) => s.write(d))
  })
  store.onSwap(() => server.setSecureContext(store.defaultContextOptions))
  server.on('tlsClientError', () => {})
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())))
  return {port: (server.address() as AddressInfo).port, server}
}

async function open(spec: CertStoreSpec, extra: Partial<Parameters<typeof CertStore.open>[1]> = {}): Promise<CertStore> {
  const store = await CertStore.open(spec, {globals, label: 'test', ...extra})
  cleanups.push(() => store.close())
  return store
}

/** Copy a pair to stable paths in a fresh directory (so a test can replace the files). */
function stage(c: IssuedCert, dir = fs.mkdtempSync(path.join(ca.dir, 'stage-'))): {cert: string; key: string; dir: string} {
  const cert = path.join(dir, 'site.crt')
  const key = path.join(dir, 'site.key')
  fs.writeFileSync(cert, c.chainPem)
  fs.writeFileSync(key, c.keyPem)
  return {cert, key, dir}
}

/** Replace a file the way editors and certbot do: write a temporary file, rename it over the old one. */
function replaceByRename(file: string, content: string): void {
  const tmp = `${file}.tmp-${process.pid}`
  fs.writeFileSync(tmp, content)
  fs.renameSync(tmp, file)
}

describe('CertStore', () => {
  it('SNI picks the certificate for the name (exact, wildcard), the default otherwise', async () => {
    const store = await open({default: {cert: main.certFile, key: main.keyFile}, sni: [{cert: api.certFile, key: api.keyFile}, {cert: wild.certFile, key: wild.keyFile}]})
    const {port} = await serve(store)
    expect((await handshake(port, {servername: 'api.test'})).fingerprint256).toBe(fingerprint(api))
    expect((await handshake(port, {servername: 'API.test'})).fingerprint256).toBe(fingerprint(api))
    expect((await handshake(port, {servername: 'x.wild.test'})).fingerprint256).toBe(fingerprint(wild))
    expect((await handshake(port, {servername: 'a.b.wild.test'})).fingerprint256).toBe(fingerprint(main))
    expect((await handshake(port, {servername: 'other.test'})).fingerprint256).toBe(fingerprint(main))
    // No SNI at all (a client connecting by IP address): the default.
    expect((await handshake(port, {})).fingerprint256).toBe(fingerprint(main))
    // The chain verifies against the CA for the name it was chosen for.
    const v = await new Promise<boolean>((resolve, reject) => {
      const s = tls.connect({port, host: '127.0.0.1', servername: 'x.wild.test', ca: ca.certPem}, () => {
        resolve(s.authorized)
        s.destroy()
      })
      s.on('error', reject)
    })
    expect(v).toBe(true)
  })

  it('refuses to open with every problem listed, each naming its file', async () => {
    const expired = await ca.issue({names: ['exp.test'], notBefore: daysAgo(9), notAfter: daysAgo(2)})
    const mismatched = await ca.issue({names: ['mm.test'], mismatchedKey: true})
    const e = await CertStore.open({default: {cert: expired.certFile, key: expired.keyFile}, sni: [{cert: api.certFile, key: api.keyFile}, {cert: mismatched.certFile, key: mismatched.keyFile}]}, {globals, label: '127.0.0.1:8443'}).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(e).toBeInstanceOf(CertStoreError)
    const err = e as CertStoreError
    expect(err.errors).toHaveLength(2)
    expect(err.errors[0]).toMatch(new RegExp(`^tls: the certificate in ${expired.certFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .*has expired`))
    expect(err.errors[1]).toMatch(/^tls\.sni\[1\]: the private key in .* does not match/)
    expect(err.message).toMatch(/TLS certificates of 127\.0\.0\.1:8443 cannot be used/)
  })

  it('reload: new handshakes get the new certificate, an established connection stays up', async () => {
    const first = stage(main)
    const store = await open({default: {cert: first.cert, key: first.key}})
    const {port} = await serve(store)
    const established = tls.connect({port, host: '127.0.0.1', servername: 'main.test', rejectUnauthorized: false})
    established.on('error', () => {})
    await new Promise((r) => established.once('secureConnect', r))
    const before = established.getPeerCertificate().fingerprint256

    const next = await ca.issue({names: ['main.test']})
    replaceByRename(first.cert, next.certPem)
    replaceByRename(first.key, next.keyPem)
    const r = await store.reload()
    expect(r).toMatchObject({ok: true, changed: true})
    expect((await handshake(port, {servername: 'main.test'})).fingerprint256).toBe(fingerprint(next))
    expect((await handshake(port, {})).fingerprint256).toBe(fingerprint(next))

    // The old connection still works (echo) and still has the old certificate.
    const echoed = new Promise<string>((resolve) => established.once('data', (d: Buffer) => resolve(d.toString())))
    established.write('still here')
    expect(await echoed).toBe('still here')
    expect(established.getPeerCertificate().fingerprint256).toBe(before)
    established.destroy()

    // Same files again: nothing to swap.
    expect(await store.reload()).toMatchObject({ok: true, changed: false})
  })

  it('a broken certificate on reload is refused with a clear error and the old one keeps serving', async () => {
    const files = stage(main)
    const store = await open({default: {cert: files.cert, key: files.key}})
    const {port} = await serve(store)
    const generation = store.generation

    // Certificate replaced, key not (yet): they do not match.
    const next = await ca.issue({names: ['main.test']})
    replaceByRename(files.cert, next.certPem)
    const mismatch = await store.reload()
    expect(mismatch.ok).toBe(false)
    expect(mismatch.ok === false && mismatch.errors[0]).toMatch(/does not match the certificate/)

    // An expired one.
    const expired = await ca.issue({names: ['main.test'], notBefore: daysAgo(9), notAfter: daysAgo(1)})
    replaceByRename(files.cert, expired.certPem)
    replaceByRename(files.key, expired.keyPem)
    const exp = await store.reload()
    expect(exp.ok === false && exp.errors[0]).toMatch(/has expired/)

    // Garbage.
    replaceByRename(files.cert, 'not a certificate\n')
    const garbage = await store.reload()
    expect(garbage.ok === false && garbage.errors[0]).toMatch(/holds no PEM certificate/)

    expect(store.generation).toBe(generation)
    expect((await handshake(port, {servername: 'main.test'})).fingerprint256).toBe(fingerprint(main))
    expect(store.certificates()[0]!.fingerprint256).toBe(fingerprint(main))
  })

  it('a reload is all or nothing: one bad SNI pair keeps the whole old set', async () => {
    const a = stage(main)
    const b = stage(api)
    const store = await open({default: {cert: a.cert, key: a.key}, sni: [{cert: b.cert, key: b.key}]})
    const {port} = await serve(store)
    const nextMain = await ca.issue({names: ['main.test']})
    replaceByRename(a.cert, nextMain.certPem)
    replaceByRename(a.key, nextMain.keyPem)
    replaceByRename(b.key, (await ca.issue({names: ['x.test']})).keyPem)
    const r = await store.reload()
    expect(r.ok === false && r.errors).toEqual([expect.stringMatching(/^tls\.sni\[0\]: .*does not match/)])
    expect((await handshake(port, {servername: 'main.test'})).fingerprint256).toBe(fingerprint(main))
  })

  it('sessions resume across a certificate rotation, on TLS 1.3 and TLS 1.2, via SNI contexts and the default', async () => {
    const files = stage(main)
    const sniFiles = stage(api)
    const store = await open({default: {cert: files.cert, key: files.key}, sni: [{cert: sniFiles.cert, key: sniFiles.key}]})
    const {port} = await serve(store)
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      for (const servername of ['api.test', undefined]) {
        const first = await handshake(port, {servername, maxVersion: version})
        expect(first.protocol).toBe(version)
        expect(first.session).toBeDefined()
        const same = await handshake(port, {servername, maxVersion: version, session: first.session})
        expect(same.reused).toBe(true)
      }
    }
    const sessions = await Promise.all([handshake(port, {servername: 'api.test'}), handshake(port, {}), handshake(port, {servername: 'api.test', maxVersion: 'TLSv1.2'})])
    const nextApi = await ca.issue({names: ['api.test']})
    const nextMain = await ca.issue({names: ['main.test']})
    replaceByRename(sniFiles.cert, nextApi.certPem)
    replaceByRename(sniFiles.key, nextApi.keyPem)
    replaceByRename(files.cert, nextMain.certPem)
    replaceByRename(files.key, nextMain.keyPem)
    expect(await store.reload()).toMatchObject({ok: true, changed: true})
    const [a, b, c] = await Promise.all([
      handshake(port, {servername: 'api.test', session: sessions[0].session}),
      handshake(port, {session: sessions[1].session}),
      handshake(port, {servername: 'api.test', maxVersion: 'TLSv1.2', session: sessions[2].session}),
    ])
    expect([a.reused, b.reused, c.reused]).toEqual([true, true, true])
    // A full handshake now sees the new certificates.
    expect((await handshake(port, {servername: 'api.test'})).fingerprint256).toBe(fingerprint(nextApi))
  })

  it('a ticket key rotation rebuilds the contexts: old tickets stop resuming, new ones do', async () => {
    const keys = new TicketKeys(3_600_000)
    const store = await open({default: {cert: main.certFile, key: main.keyFile}}, {ticketKeys: keys})
    const {port} = await serve(store)
    const first = await handshake(port, {servername: 'main.test'})
    const generation = store.generation
    keys.rotate()
    await waitFor(() => store.generation > generation, {message: 'contexts rebuilt with the new key'})
    expect((await handshake(port, {servername: 'main.test', session: first.session})).reused).toBe(false)
    const fresh = await handshake(port, {servername: 'main.test'})
    expect((await handshake(port, {servername: 'main.test', session: fresh.session})).reused).toBe(true)
    keys.stop()
  })

  it('with sessionTickets off, nothing resumes', async () => {
    const store = await open({default: {cert: main.certFile, key: main.keyFile}}, {globals: TlsGlobalsSchema.parse({sessionTickets: false})})
    const {port} = await serve(store)
    const first = await handshake(port, {servername: 'main.test', maxVersion: 'TLSv1.2'})
    expect((await handshake(port, {servername: 'main.test', maxVersion: 'TLSv1.2', session: first.session})).reused).toBe(false)
  })

  it('file changes are picked up (files replaced by rename), a broken change is logged and ignored', async () => {
    const files = stage(main)
    const warnings: Array<Record<string, unknown>> = []
    const infos: string[] = []
    const store = await open({default: {cert: files.cert, key: files.key}}, {log: {info: (_f, msg) => infos.push(msg), warn: (f) => warnings.push(f)}})
    store.watch(50)
    const {port} = await serve(store)

    const next = await ca.issue({names: ['main.test']})
    replaceByRename(files.key, next.keyPem)
    replaceByRename(files.cert, next.certPem)
    await waitFor(async () => (await handshake(port, {servername: 'main.test'})).fingerprint256 === fingerprint(next), {message: 'the watcher to swap in the new certificate', timeoutMs: 10_000})
    expect(infos).toContain('certificates reloaded (files changed)')

    // A broken write: logged, the current one keeps serving.
    fs.writeFileSync(files.cert, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n')
    await waitFor(() => warnings.some((w) => Array.isArray(w.errors)), {message: 'the broken change to be reported', timeoutMs: 10_000})
    expect((await handshake(port, {servername: 'main.test'})).fingerprint256).toBe(fingerprint(next))
  })

  it('reports names and expiry for status and metrics, one sample per distinct certificate', async () => {
    const store = await open({default: {cert: main.certFile, key: main.keyFile}, sni: [{cert: wild.certFile, key: wild.keyFile}, {cert: main.certFile, key: main.keyFile, names: ['main.test']}]})
    const certs = store.certificates()
    expect(certs.map((c) => [c.role, c.names])).toEqual([
      ['default', ['main.test']],
      ['sni', ['*.wild.test']],
      ['sni', ['main.test']],
    ])
    expect(certs[0]!.secondsLeft).toBeGreaterThan(29 * 86_400)
    expect(Date.parse(certs[0]!.notAfter)).toBeGreaterThan(Date.now())
    const samples = expirySamples(certs)
    expect(samples.map((s) => s.labels.name)).toEqual(['main.test', '*.wild.test'])
    expect(samples[0]!.value).toBe(certs[0]!.secondsLeft)
  })
})
