/**
 * Spawns the built daemon (`node bin/run.js serve …`, i.e. dist/) as a black box.
 *
 *   const d = await startDaemon({upstream: origin.url})
 *   const r = await d.request('/x', {headers: {'accept-language': 'en'}})
 *   r.status; r.header('cache-status'); r.rawHeaders; r.body
 *   await d.status()          // GET /status over the admin socket
 *   await d.stop()            // SIGTERM, resolves with the exit code
 *
 * It never builds: run `npm run build` first (the test script does). Every process started here is killed
 * in an afterAll of the importing test file and on process exit, even when tests fail.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll} from 'vitest'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = path.join(REPO_ROOT, 'bin/run.js')

const live = new Set<ChildProcess>()
const tempDirs = new Set<string>()

function killAll(): void {
  for (const p of live) {
    try {
      p.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  live.clear()
}

function removeTempDirs(): void {
  for (const d of tempDirs) {
    try {
      fs.rmSync(d, {recursive: true, force: true})
    } catch {
      // best effort
    }
  }
  tempDirs.clear()
}

process.on('exit', () => {
  killAll()
  removeTempDirs()
})

/** Kill every daemon still running (SIGKILL) and remove temp dirs; registered as an afterAll automatically. */
export async function killAllDaemons(): Promise<void> {
  const waits = [...live].map((p) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r()))))
  killAll()
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 5000))])
  removeTempDirs()
}

try {
  afterAll(killAllDaemons, 20_000)
} catch {
  // not inside a vitest file collection (e.g. imported from a script)
}

/** A fresh directory under os.tmpdir(), removed when the file's tests are done. Short, so socket paths fit. */
export function makeTempDir(prefix = 'tavern-e2e-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  tempDirs.add(d)
  return d
}

export interface HttpResult {
  status: number
  statusText: string
  /** Flat raw header list as received: [name, value, name, value, …]. */
  rawHeaders: string[]
  /** First value of a header (case-insensitive), or undefined. */
  header(name: string): string | undefined
  /** Every field line with that name, in order. */
  headerAll(name: string): string[]
  body: Buffer
  text: string
  /** False when the connection ended before the announced body was complete. */
  complete: boolean
  error?: Error
  /** Timings (Date.now()): request sent, headers received, first body byte, end. */
  startedAt: number
  headersAt: number
  firstByteAt?: number
  endedAt: number
}

export interface RequestOptions {
  method?: string
  /** Object, or a flat raw list ['Name', 'value', …] (duplicates and order kept). */
  headers?: Record<string, string | string[]> | string[]
  /** A Buffer/string, or an (async) iterable of chunks (sent chunked unless a content-length header is given). */
  body?: string | Buffer | Iterable<Buffer | string> | AsyncIterable<Buffer | string>
  /** Resolve (with complete=false and `error`) instead of rejecting when the response body is cut. */
  allowIncomplete?: boolean
  timeoutMs?: number
  /** Unix socket instead of host/port. */
  socketPath?: string
  host?: string
  port?: number
  /** Local address to connect from (any of 127.0.0.0/8 works on loopback), e.g. to test address allow-lists. */
  localAddress?: string
}

function rawGet(raw: readonly string[], name: string): string | undefined {
  const n = name.toLowerCase()
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === n) return raw[i + 1]
  return undefined
}
function rawGetAll(raw: readonly string[], name: string): string[] {
  const n = name.toLowerCase()
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === n) out.push(raw[i + 1]!)
  return out
}

/** One HTTP/1.1 request on a fresh connection (node:http, no pooling), raw headers preserved. */
export function httpRequest(pathname: string, opts: RequestOptions): Promise<HttpResult> {
  const startedAt = Date.now()
  const timeoutMs = opts.timeoutMs ?? 15_000
  return new Promise<HttpResult>((resolve, reject) => {
    let headers: http.OutgoingHttpHeaders | string[] | undefined = opts.headers as http.OutgoingHttpHeaders | string[] | undefined
    const method = opts.method ?? 'GET'
    const fixed = typeof opts.body === 'string' ? Buffer.from(opts.body) : Buffer.isBuffer(opts.body) ? opts.body : undefined
    if (fixed) {
      const has = Array.isArray(headers) ? rawGet(headers, 'content-length') !== undefined : Object.keys(headers ?? {}).some((k) => k.toLowerCase() === 'content-length')
      if (!has) headers = Array.isArray(headers) ? [...headers, 'Content-Length', String(fixed.length)] : {...(headers ?? {}), 'Content-Length': String(fixed.length)}
    }
    const req = http.request({
      method,
      path: pathname,
      agent: false,
      headers: headers as http.OutgoingHttpHeaders,
      ...(opts.socketPath ? {socketPath: opts.socketPath} : {host: opts.host ?? '127.0.0.1', port: opts.port, localAddress: opts.localAddress}),
    })
    const timer = setTimeout(() => req.destroy(new Error(`request ${method} ${pathname} timed out after ${timeoutMs} ms`)), timeoutMs)
    let settled = false
    const fail = (e: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(e)
    }
    req.on('error', fail)
    req.on('response', (res) => {
      const headersAt = Date.now()
      let firstByteAt: number | undefined
      const parts: Buffer[] = []
      const done = (error?: Error) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        const rawHeaders = [...res.rawHeaders]
        const body = Buffer.concat(parts)
        const result: HttpResult = {
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          rawHeaders,
          header: (n) => rawGet(rawHeaders, n),
          headerAll: (n) => rawGetAll(rawHeaders, n),
          body,
          text: body.toString('utf8'),
          complete: !error && res.complete,
          error,
          startedAt,
          headersAt,
          firstByteAt,
          endedAt: Date.now(),
        }
        if (!result.complete && !opts.allowIncomplete) {
          const e = new Error(`response body for ${method} ${pathname} was cut after ${body.length} bytes (${error?.message ?? 'incomplete'})`) as Error & {result: HttpResult}
          e.result = result
          reject(e)
        } else resolve(result)
      }
      res.on('data', (c: Buffer) => {
        firstByteAt ??= Date.now()
        parts.push(c)
      })
      res.on('end', () => done())
      res.on('error', (e) => done(e))
      res.on('close', () => done(res.complete ? undefined : new Error('connection closed before the body was complete')))
    })
    const b = opts.body
    if (b === undefined || fixed) {
      req.end(fixed)
      return
    }
    ;(async () => {
      for await (const c of b as AsyncIterable<Buffer | string>) {
        if (!req.write(c)) await new Promise<void>((r) => req.once('drain', r))
      }
      req.end()
    })().catch((e: Error) => req.destroy(e))
  })
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Run `node bin/run.js ARGS…` to completion (bounded; killed on timeout). */
export function runCli(args: string[], opts: {timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string} = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], {cwd: opts.cwd ?? REPO_ROOT, env: {...process.env, NO_COLOR: '1', ...opts.env}, stdio: ['ignore', 'pipe', 'pipe']})
    live.add(p)
    let stdout = ''
    let stderr = ''
    p.stdout!.on('data', (c: Buffer) => (stdout += c.toString()))
    p.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => {
      p.kill('SIGKILL')
      reject(new Error(`tavern ${args.join(' ')} did not exit within ${opts.timeoutMs ?? 15_000} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`))
    }, opts.timeoutMs ?? 15_000)
    p.on('error', (e) => {
      clearTimeout(timer)
      live.delete(p)
      reject(e)
    })
    p.on('close', (code, signal) => {
      clearTimeout(timer)
      live.delete(p)
      resolve({code, signal, stdout, stderr})
    })
  })
}

export interface StartDaemonOptions {
  /** Origin URL (passed as --upstream); omit to use the config's `upstreams`. */
  upstream?: string
  /** Config object, written to a temp JSON file and passed with --config. */
  config?: Record<string, unknown>
  /** Extra CLI arguments. */
  args?: string[]
  /** Reuse a storage directory (e.g. for restart tests); default: a fresh temp dir. */
  storageDir?: string
  /** Admin socket path; default: a fresh temp path; null: pass no --socket (the daemon's own default applies). */
  socket?: string | null
  logLevel?: string
  readyTimeoutMs?: number
  env?: NodeJS.ProcessEnv
  /**
   * Pass nothing but --config, so every setting (listen, socket, storage.dir, log.level, upstreams…) comes from the
   * config file. The config must then set `socket`; readiness is a polled GET /status on it (the "tavern ready" log
   * line may be filtered out by log.level).
   */
  bare?: boolean
  /** Run the daemon through this command prefix, e.g. ['prlimit', '--nofile=256:256', '--']. */
  wrap?: string[]
  /** Run it as this user (the test must run as root). */
  uid?: number
  gid?: number
}

export interface DaemonHandle {
  url: string
  port: number
  /** host:port of the data plane. */
  host: string
  socket: string
  storageDir: string
  pid: number
  process: ChildProcess
  /** Everything the process wrote so far (stdout + stderr). */
  logs(): string
  /** Parsed JSON log lines from stdout. */
  logLines(): Array<Record<string, unknown>>
  request(path: string, opts?: Omit<RequestOptions, 'socketPath' | 'host' | 'port'>): Promise<HttpResult>
  /** A request on the admin socket. */
  admin(path: string, opts?: Omit<RequestOptions, 'socketPath' | 'host' | 'port'>): Promise<HttpResult>
  /** GET /status, parsed. */
  status(): Promise<StatusBody>
  /** Send a signal (default SIGTERM) and wait for the exit; resolves with the exit code (128+n when killed by a signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number>
  kill9(): Promise<void>
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
}

export interface StatusBody {
  version: string
  pid: number
  uptimeSeconds: number
  listeners: {http: string; admin: string}
  upstreams: unknown[]
  config: {source: string}
  storage: {dir: string; objects: number; diskBytes: number; [k: string]: unknown}
  counters: {requests: number; inFlight: number; hits: number; misses: number; originRequests: number; bytesOut: number; [k: string]: unknown}
  [k: string]: unknown
}

const SIGNALS: Record<string, number> = {SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15}

export async function startDaemon(opts: StartDaemonOptions): Promise<DaemonHandle> {
  const dir = makeTempDir()
  const storageDir = opts.storageDir ?? path.join(dir, 'storage')
  const socket = opts.socket === null ? '' : (opts.socket ?? path.join(dir, 'admin.sock'))
  const args = opts.bare
    ? [BIN, 'serve']
    : [BIN, 'serve', '--listen', '127.0.0.1:0', ...(opts.upstream ? ['--upstream', opts.upstream] : []), '--storage', storageDir, ...(socket ? ['--socket', socket] : []), '--log-level', opts.logLevel ?? 'info']
  if (opts.bare && (typeof opts.config?.socket !== 'string' || !opts.config)) throw new Error('startDaemon({bare: true}) needs config.socket')
  if (opts.config) {
    const file = path.join(dir, 'tavern.config.json')
    fs.writeFileSync(file, JSON.stringify(opts.config, null, 2))
    args.push('--config', file)
  }
  if (opts.args) args.push(...opts.args)

  const [command, ...commandArgs] = [...(opts.wrap ?? []), process.execPath, ...args]
  const child = spawn(command!, commandArgs, {cwd: REPO_ROOT, env: {...process.env, NO_COLOR: '1', ...opts.env}, stdio: ['ignore', 'pipe', 'pipe'], uid: opts.uid, gid: opts.gid})
  live.add(child)
  let out = ''
  let all = ''
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString()
    all += c.toString()
  })
  child.stderr!.on('data', (c: Buffer) => (all += c.toString()))
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolve({code, signal})
    })
  })
  const logLines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>]
        } catch {
          return []
        }
      })

  // An upper bound only: a daemon on a loaded CI machine can take well over 15 s to start.
  const timeoutMs = opts.readyTimeoutMs ?? 40_000
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let settled = false
    const finish = (e: Error | undefined, line?: Record<string, unknown>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.stdout!.off('data', check)
      if (e) reject(e)
      else resolve(line!)
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      finish(new Error(`tavern did not ${opts.bare ? 'answer GET /status on its admin socket' : 'log "tavern ready"'} within ${timeoutMs} ms\n--- logs ---\n${all}`))
    }, timeoutMs)
    const check = () => {
      const line = logLines().find((l) => l.msg === 'tavern ready')
      if (line) finish(undefined, line)
    }
    if (opts.bare) {
      // The config names the socket; poll it (the ready line may be below log.level).
      const adminSocket = String(opts.config!.socket)
      const poll = () => {
        if (settled) return
        httpRequest('/status', {socketPath: adminSocket, timeoutMs: 2000}).then(
          (r) => {
            if (r.status !== 200) return void setTimeout(poll, 25)
            const st = JSON.parse(r.text) as StatusBody
            finish(undefined, {listen: st.listeners.http, socket: adminSocket, storage: st.storage.dir})
          },
          () => void setTimeout(poll, 25),
        )
      }
      poll()
    } else child.stdout!.on('data', check)
    void exited.then(({code, signal}) => finish(new Error(`tavern exited (code ${code}, signal ${signal}) before it was ready\n--- logs ---\n${all}`)))
  })
  const listen = String(ready.listen)
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1))
  const host = `127.0.0.1:${port}`

  const handle: DaemonHandle = {
    url: `http://${host}`,
    port,
    host,
    socket: typeof ready.socket === 'string' ? ready.socket : socket,
    storageDir: typeof ready.storage === 'string' && opts.bare ? ready.storage : storageDir,
    pid: child.pid!,
    process: child,
    exited,
    logs: () => all,
    logLines,
    request: (p, o = {}) => httpRequest(p, {...o, host: '127.0.0.1', port}),
    admin: (p, o = {}) => httpRequest(p, {...o, socketPath: handle.socket}),
    async status() {
      const r = await handle.admin('/status')
      if (r.status !== 200) throw new Error(`GET /status → ${r.status}: ${r.text}`)
      return JSON.parse(r.text) as StatusBody
    },
    async stop(signal = 'SIGTERM', timeout = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const e = await exited
        return e.code ?? 128 + (SIGNALS[e.signal ?? ''] ?? 0)
      }
      child.kill(signal)
      const t = setTimeout(() => child.kill('SIGKILL'), timeout)
      const e = await exited
      clearTimeout(t)
      return e.code ?? 128 + (SIGNALS[e.signal ?? ''] ?? 0)
    },
    async kill9() {
      child.kill('SIGKILL')
      await exited
    },
  }
  return handle
}
