/**
 * Test certificates made at test time with the `openssl` CLI (EC P-256: a few ms each), in a temp dir, no network.
 *
 *   const ca = await createTestCa()
 *   const a = await ca.issue({names: ['a.test', '*.wild.test']})     // a.certFile, a.keyFile, a.certPem, a.keyPem
 *   const old = await ca.issue({names: ['a.test'], notBefore: daysAgo(10), notAfter: daysAgo(1)})   // expired
 *   const inter = await ca.intermediate()                            // a sub-CA; inter.issue() → chain files
 *   const wrongKey = await ca.issue({names: ['a.test'], mismatchedKey: true})  // key that is not the cert's
 *   await ca.cleanup()                                               // or leave it to process exit
 *
 * Leaves are signed with `openssl ca` (it takes explicit start and end dates, which OpenSSL 3.0's `x509 -req` does not),
 * one CA database per CA, calls serialised per CA.
 */
import {execFile} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

const run = promisify(execFile)

export interface IssueOptions {
  /** subjectAltName DNS entries (wildcards allowed). Default: none (then `cn` is the only name). */
  names?: string[]
  /** subjectAltName IP entries. */
  ips?: string[]
  /** Subject CN. Default: the first name, else "tavern test". */
  cn?: string
  /** Validity start. Default: one hour ago. */
  notBefore?: Date
  /** Validity end. Default: 30 days from now. */
  notAfter?: Date
  /** Write a key that does not belong to the certificate (a fresh one) to keyFile. */
  mismatchedKey?: boolean
  /** Make it a client certificate too (extendedKeyUsage clientAuth). Always serverAuth. */
  clientAuth?: boolean
  /** File name stem inside the CA's dir (default: a counter). */
  stem?: string
}

export interface IssuedCert {
  certFile: string
  keyFile: string
  /** Leaf then the issuing intermediates (no root): what a server presents. Same as certFile for a root-issued leaf. */
  chainFile: string
  certPem: string
  keyPem: string
  chainPem: string
}

export interface TestCa {
  readonly dir: string
  readonly certFile: string
  readonly keyFile: string
  readonly certPem: string
  issue(opts?: IssueOptions): Promise<IssuedCert>
  /** A CA signed by this one; its leaves' chainFile holds leaf + intermediate. */
  intermediate(cn?: string): Promise<TestCa>
  cleanup(): Promise<void>
}

const roots = new Set<string>()
process.once('exit', () => {
  for (const d of roots) fs.rmSync(d, {recursive: true, force: true})
})

export function daysFromNow(n: number): Date {
  return new Date(Date.now() + n * 86_400_000)
}

export function daysAgo(n: number): Date {
  return daysFromNow(-n)
}

/** openssl ca's date form: YYYYMMDDHHMMSSZ (UTC). */
function caDate(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z')
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, {cwd, timeout: 15_000})
  } catch (error) {
    const e = error as Error & {stderr?: string}
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`)
  }
}

async function ecKey(file: string, cwd: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], cwd)
}

function caConfig(dir: string): string {
  return [
    '[ca]',
    'default_ca = test_ca',
    '[test_ca]',
    `dir = ${dir}`,
    `database = ${path.join(dir, 'index.txt')}`,
    `new_certs_dir = ${path.join(dir, 'newcerts')}`,
    `serial = ${path.join(dir, 'serial')}`,
    'default_md = sha256',
    'policy = policy_any',
    'unique_subject = no',
    'copy_extensions = none',
    'email_in_dn = no',
    '[policy_any]',
    'commonName = optional',
    '',
  ].join('\n')
}

class Ca implements TestCa {
  private n = 0
  private queue: Promise<unknown> = Promise.resolve()
  certPem = ''

  constructor(
    readonly dir: string,
    readonly certFile: string,
    readonly keyFile: string,
    /** PEM of the intermediates between this CA and the root (empty for the root), appended to leaf chains. */
    private readonly chainAbove: string,
    private readonly owned: boolean,
  ) {}

  async init(): Promise<void> {
    await fs.promises.mkdir(path.join(this.dir, 'newcerts'), {recursive: true})
    await fs.promises.writeFile(path.join(this.dir, 'index.txt'), '')
    await fs.promises.writeFile(path.join(this.dir, 'serial'), `${(Date.now() % 1e9).toString(16).padStart(8, '0')}\n`)
    await fs.promises.writeFile(path.join(this.dir, 'ca.cnf'), caConfig(this.dir))
    this.certPem = await fs.promises.readFile(this.certFile, 'utf8')
  }

  /** `openssl ca` keeps a database per CA: one signing at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn)
    this.queue = next.catch(() => undefined)
    return next
  }

  private sign(csr: string, out: string, ext: string[], notBefore: Date, notAfter: Date): Promise<void> {
    return this.serial(async () => {
      const extFile = `${out}.ext`
      await fs.promises.writeFile(extFile, ['[v3]', ...ext, ''].join('\n'))
      // -notext: PEM only, so the file is exactly what a server would be given.
      await openssl(['ca', '-batch', '-notext', '-config', 'ca.cnf', '-cert', this.certFile, '-keyfile', this.keyFile, '-in', csr, '-out', out, '-startdate', caDate(notBefore), '-enddate', caDate(notAfter), '-extfile', extFile, '-extensions', 'v3'], this.dir)
    })
  }

  async issue(opts: IssueOptions = {}): Promise<IssuedCert> {
    const stem = path.join(this.dir, opts.stem ?? `leaf${++this.n}`)
    const names = opts.names ?? []
    const cn = opts.cn ?? names[0] ?? 'tavern test'
    await ecKey(`${stem}.key`, this.dir)
    await openssl(['req', '-new', '-key', `${stem}.key`, '-subj', `/CN=${cn}`, '-out', `${stem}.csr`], this.dir)
    const san = [...names.map((n) => `DNS:${n}`), ...(opts.ips ?? []).map((ip) => `IP:${ip}`)]
    const ext = ['basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature', `extendedKeyUsage = serverAuth${opts.clientAuth ? ', clientAuth' : ''}`]
    if (san.length) ext.push(`subjectAltName = ${san.join(', ')}`)
    await this.sign(`${stem}.csr`, `${stem}.crt`, ext, opts.notBefore ?? new Date(Date.now() - 3_600_000), opts.notAfter ?? daysFromNow(30))
    if (opts.mismatchedKey) await ecKey(`${stem}.key`, this.dir)
    const certPem = await fs.promises.readFile(`${stem}.crt`, 'utf8')
    const keyPem = await fs.promises.readFile(`${stem}.key`, 'utf8')
    const chainPem = certPem + this.chainAbove
    const chainFile = this.chainAbove ? `${stem}.chain.crt` : `${stem}.crt`
    if (this.chainAbove) await fs.promises.writeFile(chainFile, chainPem)
    return {certFile: `${stem}.crt`, keyFile: `${stem}.key`, chainFile, certPem, keyPem, chainPem}
  }

  async intermediate(cn = 'Tavern Test Intermediate'): Promise<TestCa> {
    const sub = path.join(this.dir, `sub${++this.n}`)
    await fs.promises.mkdir(sub)
    const key = path.join(sub, 'ca.key')
    const crt = path.join(sub, 'ca.crt')
    await ecKey(key, sub)
    await openssl(['req', '-new', '-key', key, '-subj', `/CN=${cn}`, '-out', path.join(sub, 'ca.csr')], sub)
    await this.sign(path.join(sub, 'ca.csr'), crt, ['basicConstraints = critical, CA:TRUE, pathlen:0', 'keyUsage = critical, keyCertSign, cRLSign'], new Date(Date.now() - 3_600_000), daysFromNow(60))
    const ca = new Ca(sub, crt, key, (await fs.promises.readFile(crt, 'utf8')) + this.chainAbove, false)
    await ca.init()
    return ca
  }

  async cleanup(): Promise<void> {
    if (!this.owned) return
    roots.delete(this.dir)
    await fs.promises.rm(this.dir, {recursive: true, force: true})
  }
}

/** A self-signed root CA in a new temp dir. */
export async function createTestCa(cn = 'Tavern Test CA'): Promise<TestCa> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'tavern-certs-'))
  roots.add(dir)
  const key = path.join(dir, 'ca.key')
  const crt = path.join(dir, 'ca.crt')
  await ecKey(key, dir)
  await openssl(['req', '-x509', '-new', '-key', key, '-subj', `/CN=${cn}`, '-days', '90', '-out', crt, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir)
  const ca = new Ca(dir, crt, key, '', true)
  await ca.init()
  return ca
}
