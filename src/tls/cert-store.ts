/**
 * The certificates of one TLS listener: a default pair (clients without SNI, or names no other pair serves) and
 * per-SNI pairs, as ready secure contexts.
 *
 * Rotation without downtime: `reload()` reads and checks every file and builds every context of the new set first;
 * only a complete set replaces the current one, in one assignment. New handshakes get the new set; connections
 * already established keep the context they were made with (nothing is closed). Any failure — unreadable file, key
 * that does not match, expired or not-yet-valid certificate, chain out of order — keeps the current set serving and
 * is returned to the caller (reload answers with it; a file-change reload logs it).
 */
import {constants as cryptoConstants} from 'node:crypto'
import tls from 'node:tls'

import {registerAlpnSelect} from './alpn-select.js'
import {CertificateError, type CertPairSpec, type LoadedCertPair, loadCertPair} from './cert-pair.js'
import {baseContextOptions, type TlsGlobals} from './config.js'
import {FileSetWatcher} from './file-watch.js'
import {SniTable} from './sni.js'
import {TicketKeys} from './ticket-keys.js'

export interface CertStoreSpec {
  /** Used without SNI and for names no `sni` pair serves. */
  default: CertPairSpec
  sni?: readonly CertPairSpec[]
}

/** What the store logs (a pino logger fits). */
export interface CertStoreLog {
  info(fields: Record<string, unknown>, msg: string): void
  warn(fields: Record<string, unknown>, msg: string): void
}

export interface CertStoreOptions {
  globals: TlsGlobals
  /** Shared by every store of the process (see ticket-keys.ts); default: one of this store's own. */
  ticketKeys?: TicketKeys
  /** Relative certificate paths resolve from here (the config file's directory); default: the working directory. */
  baseDir?: string
  /** For messages and status (e.g. the listener address). */
  label?: string
  log?: CertStoreLog
  now?: () => number
}

export interface CertificateInfo {
  listener: string | undefined
  role: 'default' | 'sni'
  /** Names SNI selects it for. */
  names: string[]
  subject: string
  issuer: string
  serial: string
  fingerprint256: string
  certFile: string
  keyFile: string
  notBefore: string
  notAfter: string
  /** Until notAfter (negative once expired while serving). */
  secondsLeft: number
  loadedAt: string
  warnings: string[]
}

export type ReloadResult =
  | {ok: true; changed: boolean; generation: number; warnings: string[]}
  | {ok: false; errors: string[]; generation: number}

/** The store could not be opened: every problem found, each naming its file. */
export class CertStoreError extends Error {
  constructor(
    readonly errors: readonly string[],
    label?: string,
  ) {
    super(`TLS certificates${label ? ` of ${label}` : ''} cannot be used:\n  - ${errors.join('\n  - ')}`)
    this.name = 'CertStoreError'
  }
}

interface CertSet {
  readonly pairs: readonly LoadedCertPair[]
  readonly contexts: readonly tls.SecureContext[]
  readonly table: SniTable<tls.SecureContext>
  readonly hash: string
  readonly loadedAt: number
  readonly ticketKey: Buffer
  readonly warnings: readonly string[]
}

export class CertStore {
  private set: CertSet
  private spec: CertStoreSpec
  private gen = 1
  private queue: Promise<unknown> = Promise.resolve()
  private readonly swapListeners = new Set<() => void>()
  private watcher: FileSetWatcher | undefined
  private readonly ticketKeys: TicketKeys
  private readonly ownTicketKeys: boolean
  private readonly unsubscribeKeys: () => void

  /**
   * SNICallback for tls.createServer: the context for the name, from the current set. Synchronous lookups; the
   * callback form is Node's.
   */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    cb(null, this.set.table.resolve(servername))
  }

  private constructor(
    spec: CertStoreSpec,
    set: CertSet,
    private readonly opts: CertStoreOptions,
    ticketKeys: TicketKeys,
    ownTicketKeys: boolean,
  ) {
    this.spec = spec
    this.set = set
    this.ticketKeys = ticketKeys
    this.ownTicketKeys = ownTicketKeys
    // A new ticket key: same certificates, new contexts (each context holds the key it encrypts tickets with).
    this.unsubscribeKeys = ticketKeys.subscribe(() => {
      this.serial(async () => {
        const next = CertStore.build(this.set.pairs, opts, this.ticketKeys.current, this.now())
        this.swap(next)
      }).catch((error: unknown) => opts.log?.warn({err: error, listener: opts.label}, 'TLS contexts could not be rebuilt with the new session ticket key; the old key stays in use'))
    })
  }

  /** Load and check every pair; throws CertStoreError listing all problems. */
  static async open(spec: CertStoreSpec, opts: CertStoreOptions): Promise<CertStore> {
    const own = opts.ticketKeys === undefined
    const keys = opts.ticketKeys ?? new TicketKeys(opts.globals.sessionTicketRotation)
    const r = await CertStore.load(spec, opts, keys.current)
    if ('errors' in r) throw new CertStoreError(r.errors, opts.label)
    if (own) keys.start()
    const store = new CertStore(spec, r.set, opts, keys, own)
    for (const w of r.set.warnings) opts.log?.warn({listener: opts.label}, w)
    return store
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now()
  }

  private static async load(spec: CertStoreSpec, opts: CertStoreOptions, ticketKey: Buffer): Promise<{set: CertSet} | {errors: string[]}> {
    const specs = [spec.default, ...(spec.sni ?? [])]
    const now = opts.now?.() ?? Date.now()
    const settled = await Promise.allSettled(specs.map((s) => loadCertPair(s, {baseDir: opts.baseDir, now, expiryWarningMs: opts.globals.expiryWarning})))
    const errors: string[] = []
    const pairs: LoadedCertPair[] = []
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') pairs.push(r.value)
      else {
        const where = i === 0 ? 'tls' : `tls.sni[${i - 1}]`
        const reason = r.reason instanceof CertificateError ? r.reason.message : `unexpected error: ${(r.reason as Error)?.message ?? String(r.reason)}`
        errors.push(`${where}: ${reason}`)
      }
    })
    if (errors.length) return {errors}
    try {
      return {set: CertStore.build(pairs, opts, ticketKey, now)}
    } catch (error) {
      // OpenSSL refused something the checks above let through (e.g. a key type it cannot use with these ciphers).
      return {errors: [`building the TLS contexts failed: ${(error as Error).message}`]}
    }
  }

  private static contextOptions(pair: LoadedCertPair, opts: CertStoreOptions, ticketKey: Buffer): tls.SecureContextOptions {
    const base = baseContextOptions(opts.globals)
    return {
      ...base,
      cert: pair.certPem,
      key: pair.keyPem,
      ...(opts.globals.sessionTickets ? {ticketKeys: ticketKey} : {secureOptions: cryptoConstants.SSL_OP_NO_TICKET}),
    }
  }

  private static build(pairs: readonly LoadedCertPair[], opts: CertStoreOptions, ticketKey: Buffer, now: number): CertSet {
    const contexts = pairs.map((p) => tls.createSecureContext(CertStore.contextOptions(p, opts, ticketKey)))
    // SNICallback hands these out: each needs the ALPN callback, or ALPN fails after a HelloRetryRequest.
    for (const c of contexts) registerAlpnSelect(c)
    // SNI pairs first, so a name both an sni entry and the default cover goes to the sni entry.
    const entries = pairs.map((p, i) => ({names: p.names, value: contexts[i]!, index: i}))
    const ordered = [...entries.slice(1), entries[0]!]
    const table = new SniTable(ordered, contexts[0]!)
    const warnings = pairs.flatMap((p) => p.warnings)
    for (const s of table.shadowed) {
      const kept = ordered[s.kept]!.index
      const ignored = ordered[s.ignored]!.index
      warnings.push(`${s.name} is served by ${pairs[kept]!.certFile}; ${pairs[ignored]!.certFile} also covers it and is not used for it`)
    }
    return {pairs, contexts, table, hash: pairs.map((p) => p.contentHash).join(','), loadedAt: now, ticketKey, warnings}
  }

  /** Run one reload/rebuild at a time (a file event during a reload waits for it). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn)
    this.queue = next.catch(() => undefined)
    return next
  }

  private swap(next: CertSet): void {
    this.set = next
    this.gen++
    for (const fn of this.swapListeners) {
      try {
        fn()
      } catch (error) {
        this.opts.log?.warn({err: error, listener: this.opts.label}, 'a TLS certificate swap listener failed')
      }
    }
  }

  /**
   * Re-read the files (of `spec` when given: a config reload may name other files) and, when everything is good and
   * something changed, swap in the new set. Never throws; on any error the current set keeps serving.
   */
  reload(spec?: CertStoreSpec): Promise<ReloadResult> {
    return this.serial(async () => {
      const want = spec ?? this.spec
      const r = await CertStore.load(want, this.opts, this.ticketKeys.current)
      if ('errors' in r) return {ok: false as const, errors: r.errors, generation: this.gen}
      this.spec = want
      this.watcher?.update(this.files())
      if (r.set.hash === this.set.hash && r.set.pairs.every((p, i) => p.names.join() === this.set.pairs[i]?.names.join())) {
        return {ok: true as const, changed: false, generation: this.gen, warnings: [...r.set.warnings]}
      }
      this.swap(r.set)
      return {ok: true as const, changed: true, generation: this.gen, warnings: [...r.set.warnings]}
    })
  }

  /** Bumped by every swap (certificates or ticket key). */
  get generation(): number {
    return this.gen
  }

  /** The context a handshake for this server name gets. */
  contextFor(servername: string | undefined): tls.SecureContext {
    return this.set.table.resolve(servername)
  }

  /**
   * Options for the server's own default context (`tls.createServer(opts)` / `server.setSecureContext(opts)`), used
   * when a client sends no server name: the default pair's.
   */
  get defaultContextOptions(): tls.SecureContextOptions {
    return CertStore.contextOptions(this.set.pairs[0]!, this.opts, this.set.ticketKey)
  }

  /** Called after every swap (the listener refreshes its default context). Returns the unsubscribe function. */
  onSwap(fn: () => void): () => void {
    this.swapListeners.add(fn)
    return () => this.swapListeners.delete(fn)
  }

  /** Every certificate and key file of the current spec. */
  files(): string[] {
    return this.set.pairs.flatMap((p) => [p.certFile, p.keyFile])
  }

  /** Reload when a certificate or key file changes (debounced); results are logged. */
  watch(debounceMs = 500): void {
    if (this.watcher) return
    this.watcher = new FileSetWatcher(this.files(), () => void this.reloadFromWatch(), {
      debounceMs,
      onError: (dir, error) => this.opts.log?.warn({err: error, dir, listener: this.opts.label}, 'cannot watch a certificate directory; changes there need tavern reload'),
    })
  }

  private async reloadFromWatch(): Promise<void> {
    const r = await this.reload()
    if (!r.ok) this.opts.log?.warn({listener: this.opts.label, errors: r.errors}, 'certificate files changed but cannot be used; the current certificates keep serving')
    else if (r.changed) this.opts.log?.info({listener: this.opts.label, generation: r.generation, certificates: this.certificates().map((c) => ({names: c.names, notAfter: c.notAfter}))}, 'certificates reloaded (files changed)')
  }

  get watching(): boolean {
    return this.watcher !== undefined
  }

  certificates(now = this.now()): CertificateInfo[] {
    const {pairs, loadedAt} = this.set
    return pairs.map((p, i) => ({
      listener: this.opts.label,
      role: i === 0 ? ('default' as const) : ('sni' as const),
      names: [...p.names],
      subject: p.leaf.subject.replace(/\n/g, ', '),
      issuer: p.leaf.issuer.replace(/\n/g, ', '),
      serial: p.leaf.serialNumber,
      fingerprint256: p.leaf.fingerprint256,
      certFile: p.certFile,
      keyFile: p.keyFile,
      notBefore: p.notBefore.toISOString(),
      notAfter: p.notAfter.toISOString(),
      secondsLeft: Math.floor((p.notAfter.getTime() - now) / 1000),
      loadedAt: new Date(loadedAt).toISOString(),
      warnings: [...p.warnings],
    }))
  }

  close(): void {
    this.watcher?.close()
    this.watcher = undefined
    this.unsubscribeKeys()
    if (this.ownTicketKeys) this.ticketKeys.stop()
    this.swapListeners.clear()
  }
}
