/**
 * Limit states shared by several Tavern nodes in Redis: one atomic Lua script per decision (algorithms.ts), the clock
 * taken from Redis TIME so nodes with skewed clocks still agree. Redis trouble never stalls or fails a request:
 * - every command has a short timeout (`commandTimeoutMs`) and nothing is queued while disconnected;
 * - while Redis is unreachable (disconnected, or a command failed in the last `retryIntervalMs`), decisions come from
 *   this node, by the rule's fail mode (`failModes`, else `failMode`): `local` applies the limits locally, scaled by
 *   `fallbackShare` (1/N of the cluster's nodes keeps the cluster-wide rate about right); `open` allows; `closed`
 *   refuses what the rule covers;
 * - the client reconnects in the background; the first good answer ends the fallback. Both changes are reported once.
 */
import {createHash} from 'node:crypto'

import {Redis} from 'ioredis'

import {LUA} from './algorithms.js'
import type {LocalLimiterStore} from './local-store.js'
import type {LimiterStore, StoreDecision} from './store.js'
import {type Algorithm, decision, type FailMode, type LimitSpec} from './types.js'

export interface RedisStoreOptions {
  /** redis://[user:pass@]host:port[/db] or rediss:// (ignored when `client` is given). */
  url?: string
  /** Use this client (tests, or a shared one); the store then does not close it. */
  client?: Redis
  /** Prefix of every key the store writes. */
  prefix: string
  commandTimeoutMs: number
  connectTimeoutMs: number
  /** After a failed command, how long decisions stay local before Redis is asked again. */
  retryIntervalMs: number
  /** The fail mode of the rules not in `failModes`. */
  failMode: FailMode
  /** Per rule name: its own fail mode (read only while Redis is out, never on the hot path). */
  failModes?: ReadonlyMap<string, FailMode>
  /** failMode local: the local limits are the rule's × this share. */
  fallbackShare: number
  fallback: LocalLimiterStore
  /** Tests only: pass this clock to the scripts instead of Redis TIME. */
  clock?: () => number
  onStateChange?: (change: {up: boolean; reason: string}) => void
}

export interface RedisStoreCounts {
  redis: number
  fallback: number
  failOpen: number
  failClosed: number
  errors: number
}

interface Script {
  source: string
  sha: string
}

export class RedisLimiterStore implements LimiterStore {
  readonly kind = 'redis'
  readonly client: Redis
  private readonly ownClient: boolean
  private readonly scripts: Record<Algorithm, Script>
  private up = false
  private reported: boolean | undefined
  private retryAt = 0
  private readonly counts: RedisStoreCounts = {redis: 0, fallback: 0, failOpen: 0, failClosed: 0, errors: 0}

  constructor(private readonly opts: RedisStoreOptions) {
    if (!(opts.fallbackShare > 0 && opts.fallbackShare <= 1)) throw new RangeError('fallbackShare must be in (0, 1]')
    this.scripts = Object.fromEntries(Object.entries(LUA).map(([k, source]) => [k, {source, sha: createHash('sha1').update(source).digest('hex')}])) as Record<Algorithm, Script>
    this.ownClient = opts.client === undefined
    this.client =
      opts.client ??
      new Redis(opts.url ?? 'redis://127.0.0.1:6379', {
        commandTimeout: opts.commandTimeoutMs,
        connectTimeout: opts.connectTimeoutMs,
        // Fail at once while disconnected instead of queueing: the fallback answers meanwhile.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        enableAutoPipelining: true,
        retryStrategy: (times) => Math.min(100 * times, 2000),
        lazyConnect: false,
      })
    // ioredis emits 'error' for every failed (re)connection: without a listener that is an unhandled error.
    this.client.on('error', (e: Error) => this.down(`redis error: ${e.message}`))
    this.client.on('ready', () => {
      this.up = true
      this.retryAt = 0
    })
    this.client.on('close', () => this.down('redis connection closed'))
    if (this.client.status === 'ready') this.up = true
  }

  /** Redis answers are being used (connected and no recent failure). */
  get healthy(): boolean {
    return this.up && this.client.status === 'ready' && Date.now() >= this.retryAt
  }

  /** Wait (bounded) for the first connection, e.g. at startup so fail-closed rules do not refuse the first requests. */
  async waitReady(timeoutMs: number): Promise<boolean> {
    if (this.client.status === 'ready') return true
    return await new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer)
        this.client.off('ready', onReady)
        resolve(ok)
      }
      const onReady = () => done(true)
      const timer = setTimeout(() => done(false), timeoutMs)
      timer.unref()
      this.client.on('ready', onReady)
    })
  }

  stats(): Readonly<RedisStoreCounts> {
    return this.counts
  }

  decide(rule: string, key: string, spec: LimitSpec, cost: number): Promise<StoreDecision> | StoreDecision {
    if (!this.healthy) return this.fallbackDecision(rule, key, spec, cost)
    return this.ask(`${rule}:${key}`, spec, cost).then(
      (d) => {
        this.report(true, 'redis answering')
        this.counts.redis++
        return d
      },
      (error: unknown) => {
        this.counts.errors++
        this.retryAt = Date.now() + this.opts.retryIntervalMs
        this.down(`redis command failed: ${error instanceof Error ? error.message : String(error)}`)
        return this.fallbackDecision(rule, key, spec, cost)
      },
    )
  }

  async close(): Promise<void> {
    if (!this.ownClient) return
    try {
      await this.client.quit()
    } catch {
      this.client.disconnect()
    }
  }

  private async ask(id: string, spec: LimitSpec, cost: number): Promise<StoreDecision> {
    const script = this.scripts[spec.algorithm]
    const key = this.opts.prefix + id
    const args = [spec.limit, spec.windowMs, spec.burst, spec.maxDelayMs, cost, this.opts.clock ? String(this.opts.clock()) : '']
    let reply: unknown
    try {
      reply = await this.client.evalsha(script.sha, 1, key, ...args)
    } catch (error) {
      // First use on this server (or after SCRIPT FLUSH / a restart): EVAL sends and caches it.
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error
      reply = await this.client.eval(script.source, 1, key, ...args)
    }
    if (!Array.isArray(reply) || reply.length !== 5) throw new Error(`unexpected script reply ${JSON.stringify(reply)}`)
    const [allowed, remaining, retryAfterMs, resetMs, delayMs] = reply.map(Number) as [number, number, number, number, number]
    return decision(allowed === 1, remaining, retryAfterMs, resetMs, delayMs, 'redis')
  }

  private fallbackDecision(rule: string, key: string, spec: LimitSpec, cost: number): StoreDecision {
    const mode = this.opts.failModes?.get(rule) ?? this.opts.failMode
    if (mode === 'closed') {
      this.counts.failClosed++
      const wait = Math.max(this.opts.retryIntervalMs, 1000)
      return decision(false, 0, wait, wait, 0, 'fail-closed')
    }
    if (mode === 'open') {
      // Nothing counted: the fields say the whole quota is left, which is what this node enforces meanwhile.
      this.counts.failOpen++
      return decision(true, spec.limit, 0, 0, 0, 'fail-open')
    }
    this.counts.fallback++
    const share = this.opts.fallbackShare
    const local = share === 1 ? spec : {...spec, limit: spec.limit * share, burst: spec.algorithm === 'token-bucket' ? Math.max(1, spec.burst * share) : Math.floor(spec.burst * share)}
    // Its own key space in the local store: a rule may also be used locally under the same name.
    const d = this.opts.fallback.decide(`redis-fallback:${rule}`, key, local, cost)
    d.source = 'fallback'
    return d
  }

  private down(reason: string): void {
    if (this.client.status !== 'ready') this.up = false
    this.report(false, reason)
  }

  /** Report each change of state once (the first failure, the first good answer after). */
  private report(up: boolean, reason: string): void {
    if (this.reported === up) return
    if (this.reported === undefined && up) {
      this.reported = true
      return
    }
    this.reported = up
    this.opts.onStateChange?.({up, reason})
  }
}
