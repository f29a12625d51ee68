/**
 * One origin + one daemon per test file:
 *
 *   const t = useProxy()                  // registers beforeAll/afterAll
 *   it('…', async () => { t.origin.route(p, {...}); const r = await t.get(p) })
 */
import {afterAll, beforeAll} from 'vitest'

import {type DaemonHandle, type HttpResult, type RequestOptions, startDaemon} from './daemon.js'
import {type Origin, startOrigin} from './origin.js'

export interface ProxyFixture {
  origin: Origin
  daemon: DaemonHandle
  /** Request through the proxy. */
  get(path: string, opts?: Omit<RequestOptions, 'socketPath' | 'host' | 'port'>): Promise<HttpResult>
}

export function useProxy(opts: {config?: Record<string, unknown>; args?: string[]} = {}): ProxyFixture {
  const t = {} as ProxyFixture
  beforeAll(async () => {
    t.origin = await startOrigin()
    t.daemon = await startDaemon({upstream: t.origin.url, config: opts.config, args: opts.args})
    // Triage knob: TAVERN_E2E_SETTLE_MS=300 pauses after every proxied request, to tell timing races
    // (e.g. a just-filled object not yet visible) from logic bugs. Off by default: the RFC needs no pause.
    const settle = Number(process.env.TAVERN_E2E_SETTLE_MS ?? 0)
    t.get = async (path, o) => {
      const r = await t.daemon.request(path, o)
      if (settle > 0) await new Promise((res) => setTimeout(res, settle))
      return r
    }
  }, 30_000)
  afterAll(async () => {
    if (t.daemon) {
      const code = await t.daemon.stop()
      if (code !== 0) console.warn(`daemon exited with ${code} on SIGTERM\n${t.daemon.logs().slice(-4000)}`)
    }
    await t.origin?.close()
  }, 30_000)
  return t
}

export interface CacheStatusEntry {
  cache: string
  params: Record<string, string | true>
}

/** Parse a Cache-Status field (RFC 9211; a Structured Fields list) leniently. */
export function parseCacheStatus(value: string | undefined): CacheStatusEntry[] {
  if (!value) return []
  return value.split(',').map((member) => {
    const [name, ...params] = member.split(';').map((s) => s.trim())
    const p: Record<string, string | true> = {}
    for (const kv of params) {
      if (!kv) continue
      const eq = kv.indexOf('=')
      if (eq === -1) p[kv] = true
      else p[kv.slice(0, eq)] = kv.slice(eq + 1).replace(/^"(.*)"$/, '$1')
    }
    return {cache: name!.replace(/^"(.*)"$/, '$1'), params: p}
  })
}

/** Our cache's own (last) Cache-Status member. */
export function tavernStatus(r: HttpResult): CacheStatusEntry | undefined {
  return parseCacheStatus(r.headerAll('cache-status').join(', ')).filter((e) => e.cache === 'tavern').at(-1)
}

/** A one-line summary for assertion messages. */
export function describe_(r: HttpResult): string {
  return `${r.status} cache-status=${r.headerAll('cache-status').join(', ') || '-'} age=${r.header('age') ?? '-'} body=${JSON.stringify(r.text.slice(0, 60))}`
}
