// Loading a certificate + key pair: every refusal names the file and the reason; what is accepted is exactly what a
// client would accept (right key, inside its validity window, chain in order, names covered).
import fs from 'node:fs'
import path from 'node:path'
import {execFileSync} from 'node:child_process'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CertificateError, loadCertPair} from '../../src/tls/cert-pair.js'
import {isUsableName, nameMatches, normalizeServerName} from '../../src/tls/cert-names.js'
import {SniTable} from '../../src/tls/sni.js'
import {createTestCa, daysAgo, daysFromNow, type TestCa} from '../helpers/certs.js'

let ca: TestCa

beforeAll(async () => {
  ca = await createTestCa()
}, 30_000)
afterAll(async () => {
  await ca?.cleanup()
})

async function refusal(p: Promise<unknown>): Promise<CertificateError> {
  const e = await p.then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(e).toBeInstanceOf(CertificateError)
  return e as CertificateError
}

describe('loadCertPair', () => {
  it('loads a pair and reports the names it covers (SAN DNS entries, wildcards included) and its validity', async () => {
    const c = await ca.issue({names: ['a.test', '*.Wild.test.'], ips: ['127.0.0.1']})
    const p = await loadCertPair({cert: c.certFile, key: c.keyFile})
    expect(p.names).toEqual(['a.test', '*.wild.test'])
    expect(p.covered.ips).toEqual(['127.0.0.1'])
    expect(p.covered.fromCn).toBe(false)
    expect(p.notAfter.getTime()).toBeGreaterThan(Date.now())
    expect(p.warnings).toEqual([])
  })

  it('falls back to the subject CN when the certificate has no subjectAltName, with a warning', async () => {
    const c = await ca.issue({cn: 'cn-only.test'})
    const p = await loadCertPair({cert: c.certFile, key: c.keyFile})
    expect(p.names).toEqual(['cn-only.test'])
    expect(p.covered.fromCn).toBe(true)
    expect(p.warnings.join()).toMatch(/no subjectAltName/)
  })

  it('refuses an expired certificate, naming the file and its validity dates', async () => {
    const notAfter = daysAgo(1)
    const c = await ca.issue({names: ['old.test'], notBefore: daysAgo(30), notAfter})
    const e = await refusal(loadCertPair({cert: c.certFile, key: c.keyFile}))
    expect(e.file).toBe(c.certFile)
    expect(e.message).toContain(c.certFile)
    expect(e.message).toMatch(/has expired/)
    expect(e.message).toContain(notAfter.toISOString().slice(0, 16))
  })

  it('refuses a certificate that is not valid yet', async () => {
    const c = await ca.issue({names: ['future.test'], notBefore: daysFromNow(2), notAfter: daysFromNow(30)})
    const e = await refusal(loadCertPair({cert: c.certFile, key: c.keyFile}))
    expect(e.message).toMatch(/is not valid yet: valid from/)
  })

  it('refuses a key that does not belong to the certificate, naming both files', async () => {
    const c = await ca.issue({names: ['mismatch.test'], mismatchedKey: true})
    const e = await refusal(loadCertPair({cert: c.certFile, key: c.keyFile}))
    expect(e.file).toBe(c.keyFile)
    expect(e.message).toMatch(/does not match the certificate/)
    expect(e.message).toContain(c.certFile)
  })

  it('accepts leaf + intermediate in order, and refuses the chain reversed (the key belongs to the second one)', async () => {
    const inter = await ca.intermediate()
    const c = await inter.issue({names: ['chain.test']})
    const ok = await loadCertPair({cert: c.chainFile, key: c.keyFile})
    expect(ok.chain).toHaveLength(2)
    const reversed = path.join(ca.dir, 'reversed.crt')
    const blocks = c.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!
    fs.writeFileSync(reversed, `${blocks[1]}\n${blocks[0]}\n`)
    const e = await refusal(loadCertPair({cert: reversed, key: c.keyFile}))
    expect(e.message).toMatch(/belongs to certificate 2 .* must come first/)
  })

  it('refuses a chain whose second certificate did not issue the first', async () => {
    const other = await createTestCa('Unrelated CA')
    const c = await ca.issue({names: ['wrongchain.test']})
    const bad = path.join(ca.dir, 'wrongchain.crt')
    fs.writeFileSync(bad, c.certPem + other.certPem)
    const e = await refusal(loadCertPair({cert: bad, key: c.keyFile}))
    expect(e.message).toMatch(/certificate 2 .* did not issue certificate 1/)
    await other.cleanup()
  })

  it('refuses missing files, files without a certificate, unusable keys and encrypted keys, clearly', async () => {
    const c = await ca.issue({names: ['files.test']})
    expect((await refusal(loadCertPair({cert: path.join(ca.dir, 'nope.crt'), key: c.keyFile}))).message).toMatch(/cannot read the certificate file .*nope\.crt: no such file/)
    const garbage = path.join(ca.dir, 'garbage.crt')
    fs.writeFileSync(garbage, 'hello\n')
    expect((await refusal(loadCertPair({cert: garbage, key: c.keyFile}))).message).toMatch(/holds no PEM certificate/)
    expect((await refusal(loadCertPair({cert: c.certFile, key: c.certFile}))).message).toMatch(/holds no usable private key/)
    const enc = path.join(ca.dir, 'enc.key')
    execFileSync('openssl', ['pkey', '-in', c.keyFile, '-out', enc, '-aes256', '-passout', 'pass:secret'])
    expect((await refusal(loadCertPair({cert: c.certFile, key: enc}))).message).toMatch(/is encrypted/)
  })

  it('serves only the configured names, and refuses a name the certificate does not cover', async () => {
    const c = await ca.issue({names: ['a.names.test', '*.w.names.test']})
    const p = await loadCertPair({cert: c.certFile, key: c.keyFile, names: ['x.w.names.test', '*.w.names.test']})
    expect(p.names).toEqual(['x.w.names.test', '*.w.names.test'])
    const e = await refusal(loadCertPair({cert: c.certFile, key: c.keyFile, names: ['b.names.test']}))
    expect(e.message).toMatch(/b\.names\.test is not covered by the certificate .* \(it covers a\.names\.test, \*\.w\.names\.test\)/)
    // A wildcard is only served where the certificate has that wildcard (x.w… does not make *.w… a name of it).
    await refusal(loadCertPair({cert: c.certFile, key: c.keyFile, names: ['*.names.test']}))
  })

  it('warns about a certificate close to its expiry', async () => {
    const c = await ca.issue({names: ['soon.test'], notAfter: daysFromNow(2)})
    const p = await loadCertPair({cert: c.certFile, key: c.keyFile}, {expiryWarningMs: 14 * 86_400_000})
    expect(p.warnings.join()).toMatch(/expires at/)
  })
})

describe('server names', () => {
  it('normalises case and a trailing dot, and knows usable names', () => {
    expect(normalizeServerName('A.Example.COM.')).toBe('a.example.com')
    expect(normalizeServerName('')).toBeUndefined()
    expect(isUsableName('*.example.com')).toBe(true)
    expect(isUsableName('*.test')).toBe(true)
    expect(isUsableName('*')).toBe(false)
    expect(isUsableName('f*.example.com')).toBe(false)
    expect(isUsableName('a..b')).toBe(false)
  })

  it('a wildcard stands for exactly one label', () => {
    expect(nameMatches('*.example.com', 'a.example.com')).toBe(true)
    expect(nameMatches('*.example.com', 'example.com')).toBe(false)
    expect(nameMatches('*.example.com', 'a.b.example.com')).toBe(false)
    expect(nameMatches('*.example.com', '.example.com')).toBe(false)
  })

  it('SNI: exact before wildcard, first entry keeps a name, else the fallback', () => {
    const t = new SniTable(
      [
        {names: ['*.example.com'], value: 'wild'},
        {names: ['www.example.com', 'example.com'], value: 'www'},
        {names: ['example.com'], value: 'late'},
      ],
      'default',
    )
    expect(t.resolve('WWW.example.com.')).toBe('www')
    expect(t.resolve('img.example.com')).toBe('wild')
    expect(t.resolve('example.com')).toBe('www')
    expect(t.resolve('a.img.example.com')).toBe('default')
    expect(t.resolve(undefined)).toBe('default')
    expect(t.resolve('other.test')).toBe('default')
    expect(t.shadowed).toEqual([{name: 'example.com', kept: 1, ignored: 2}])
  })
})
