/**
 * Cluster membership kept in Redis (the same server the shared rate limits may use): each node registers itself with
 * an expiry it refreshes every `heartbeat`; a node that stops refreshing drops out after `ttl`; a node that closes
 * removes itself at once. Every node rebuilds its peer list from Redis and reports it when it changes.
 *
 * Layout under `prefix`: `members` (sorted set: peer id → expiry in ms on the Redis clock, so skewed node clocks do not
 * matter), `weights` (hash: peer id → weight), channel `changes` (a notice on every join, leave, weight change or
 * expiry). One Lua script per beat registers, drops the expired, publishes when something changed and returns the
 * live list, so a beat is also the poll that catches notices pub/sub lost. Notices only make the others beat early.
 *
 * Redis trouble never empties the ring and never touches the data plane: commands have short timeouts and are not
 * queued while disconnected; on failure the last known list stays (this node alone when nothing is known yet), the
 * outage is logged once, ioredis reconnects with backoff. After Redis comes back (maybe restarted, empty), peers are
 * only added for one `ttl` — the time every live node needs to register again — and only then can peers drop out.
 */
import {Redis} from 'ioredis'

import {BackgroundRunner} from '../core/background.js'
import {peerId, type PeerSpec} from './peer-ring.js'

export interface MembershipLog {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
}

export interface RedisMembershipOptions {
  /** redis://[user:pass@]host:port[/db] or rediss://… */
  url: string
  /** This node as the others reach it. */
  self: PeerSpec
  /** Prefix of the keys and the channel (default `tavern:cluster:`). */
  prefix?: string
  /** How often this node refreshes its registration and re-reads the list. */
  heartbeatMs: number
  /** A node not refreshed for this long is gone. Must exceed heartbeatMs. */
  ttlMs: number
  /** Longest wait for one Redis command (default: min(1 s, ttl / 2)). */
  commandTimeoutMs?: number
  /** Longest wait for a TCP connection to Redis (default 1 s). */
  connectTimeoutMs?: number
  /** Longest `start()` waits for the first list before it reports this node alone (default: connect + command timeout). */
  startTimeoutMs?: number
  log?: MembershipLog
  /** Where the beats run (the daemon's tracked runner); a private one by default. */
  background?: BackgroundRunner
}

/**
 * KEYS: members, weights. ARGV: id, weight, ttlMs, channel. Returns {id, weight, id, weight, …} of
 * the live members. Both keys expire `ttl` after the last beat of anyone: a cluster that is gone leaves nothing behind.
 */
const BEAT_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local changed = false
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  for _, id in ipairs(expired) do redis.call('HDEL', KEYS[2], id) end
  changed = true
end
if redis.call('ZADD', KEYS[1], now + ttl, ARGV[1]) == 1 then changed = true end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  changed = true
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
if changed then redis.call('PUBLISH', ARGV[4], 'changed') end
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or '1'
end
return out
`

/** KEYS: members, weights. ARGV: id, channel. */
const LEAVE_LUA = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if removed == 1 then redis.call('PUBLISH', ARGV[2], 'changed') end
return removed
`

const byUrl = (a: PeerSpec, b: PeerSpec) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0)
const signature = (peers: readonly PeerSpec[]) => peers.map((p) => `${p.url} ${p.weight ?? 1}`).join('\n')

export class RedisMembership {
  private readonly id: string
  private readonly weight: number
  private readonly keys: [string, string]
  private readonly channel: string
  private readonly commandTimeoutMs: number
  private readonly connectTimeoutMs: number
  private readonly background: BackgroundRunner
  private client: Redis | undefined
  private sub: Redis | undefined
  private onChange: ((peers: PeerSpec[]) => void) | undefined
  private current: PeerSpec[] | undefined
  private timer: NodeJS.Timeout | undefined
  private beating: Promise<void> | undefined
  private again = false
  private closed = false
  /** undefined until the first beat; then whether the last beat reached Redis. */
  private up: boolean | undefined
  /** After an outage, removals wait until then (ms, this node's clock). */
  private growOnlyUntil = 0
  /** Entries of other writers that are not peers (bad URL or weight), reported once each. */
  private readonly rejected = new Set<string>()

  constructor(private readonly opts: RedisMembershipOptions) {
    if (!(opts.heartbeatMs >= 1)) throw new RangeError('heartbeat must be at least 1ms')
    if (!(opts.ttlMs > opts.heartbeatMs)) throw new RangeError('ttl must be longer than heartbeat')
    const weight = opts.self.weight ?? 1
    if (!(Number.isFinite(weight) && weight > 0)) throw new RangeError('weight must be a positive number')
    this.id = peerId(opts.self.url)
    this.weight = weight
    const prefix = opts.prefix ?? 'tavern:cluster:'
    this.keys = [`${prefix}members`, `${prefix}weights`]
    this.channel = `${prefix}changes`
    // A beat that times out still leaves time for the next one before this node's registration expires.
    this.commandTimeoutMs = opts.commandTimeoutMs ?? Math.min(1000, Math.floor(opts.ttlMs / 2))
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 1000
    this.background = opts.background ?? new BackgroundRunner(opts.log)
  }

  /** The last list reported (sorted by URL), undefined before start. */
  get peers(): readonly PeerSpec[] | undefined {
    return this.current
  }

  /** Whether the last beat reached Redis. */
  get healthy(): boolean {
    return this.up === true
  }

  /**
   * Connect, register, and report the list through `onChange` now and on every change. Resolves once the first list
   * is known, or after the start timeout with this node alone (Redis keeps being tried in the background).
   */
  async start(onChange: (peers: PeerSpec[]) => void): Promise<void> {
    if (this.client) throw new Error('membership already started')
    this.onChange = onChange
    const common = {
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: this.connectTimeoutMs,
      // Fail at once while disconnected instead of queueing: the last list stands meanwhile.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
    }
    const client = new Redis(this.opts.url, common)
    // Subscribed again on every 'ready' below, and beats cover what was missed while it was away.
    const sub = new Redis(this.opts.url, {...common, autoResubscribe: false})
    this.client = client
    this.sub = sub
    // ioredis emits 'error' for every failed (re)connection; the beats report outages (once), so these only listen.
    client.on('error', () => {})
    sub.on('error', () => {})
    client.on('ready', () => this.beatSoon())
    sub.on('ready', () => {
      this.background.run('cluster-membership-subscribe', async () => {
        try {
          await sub.subscribe(this.channel)
        } catch {
          // The beats still find every change, a heartbeat later.
        }
        this.beatSoon()
      })
    })
    sub.on('message', (channel: string) => {
      if (channel === this.channel) this.beatSoon()
    })

    const startTimeoutMs = this.opts.startTimeoutMs ?? this.connectTimeoutMs + this.commandTimeoutMs
    const deadline = Date.now() + startTimeoutMs
    await this.waitFor(() => client.status === 'ready', startTimeoutMs)
    if (client.status === 'ready') await this.beatNow(Math.max(0, deadline - Date.now()))
    // Nothing known yet (Redis unreachable): this node alone, never an empty ring.
    if (this.current === undefined) this.publish([{url: this.id, weight: this.weight}])
    this.schedule()
  }

  /** Deregister (bounded by the command timeout) and disconnect. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    const client = this.client
    const sub = this.sub
    if (!client || !sub) return
    await this.beating
    if (client.status === 'ready') {
      try {
        await client.eval(LEAVE_LUA, 2, ...this.keys, this.id, this.channel)
      } catch {
        // The others drop this node after ttl instead.
      }
    }
    await Promise.all([quit(client, this.commandTimeoutMs), quit(sub, this.commandTimeoutMs)])
  }

  private schedule(): void {
    if (this.closed) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.beatSoon()
      this.schedule()
    }, this.opts.heartbeatMs)
    // The daemon's servers keep the process alive, not a heartbeat.
    this.timer.unref()
  }

  /** One beat now, or right after the one running (notices that arrive during a beat are not lost). */
  private beatSoon(): void {
    if (this.closed || !this.onChange) return
    if (this.beating) {
      this.again = true
      return
    }
    this.background.run('cluster-membership-beat', () => this.beatNow(this.commandTimeoutMs))
  }

  private async beatNow(timeoutMs: number): Promise<void> {
    if (this.beating) return await this.beating
    const run = async () => {
      do {
        this.again = false
        await this.beat(timeoutMs)
      } while (this.again && !this.closed)
    }
    this.beating = run().finally(() => (this.beating = undefined))
    return await this.beating
  }

  private async beat(timeoutMs: number): Promise<void> {
    const client = this.client!
    let reply: unknown
    try {
      reply = await withTimeout(client.eval(BEAT_LUA, 2, ...this.keys, this.id, String(this.weight), String(this.opts.ttlMs), this.channel), Math.max(1, timeoutMs))
    } catch (error) {
      this.state(false, error instanceof Error ? error.message : String(error))
      return
    }
    if (!Array.isArray(reply)) {
      this.state(false, `unexpected reply ${JSON.stringify(reply)}`)
      return
    }
    this.state(true, 'redis answering')
    if (this.closed) return
    const peers = new Map<string, PeerSpec>([[this.id, {url: this.id, weight: this.weight}]])
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const raw = String(reply[i])
      const weight = Number(reply[i + 1])
      let id: string
      try {
        id = peerId(raw)
        if (!(Number.isFinite(weight) && weight > 0)) throw new RangeError(`weight ${JSON.stringify(String(reply[i + 1]))} is not a positive number`)
      } catch (error) {
        if (!this.rejected.has(raw) && this.rejected.size < 100) {
          this.rejected.add(raw)
          this.opts.log?.warn({member: raw, reason: (error as Error).message}, 'cluster membership: ignoring a Redis entry that is not a peer')
        }
        continue
      }
      if (id !== this.id) peers.set(id, {url: id, weight})
    }
    if (this.current && Date.now() < this.growOnlyUntil) for (const p of this.current) if (!peers.has(p.url)) peers.set(p.url, p)
    this.publish([...peers.values()])
  }

  private publish(peers: PeerSpec[]): void {
    peers.sort(byUrl)
    if (this.current && signature(this.current) === signature(peers)) return
    this.current = peers
    try {
      this.onChange?.(peers.map((p) => ({...p})))
    } catch (error) {
      this.opts.log?.warn({err: error}, 'cluster membership: applying the peer list failed')
    }
  }

  /** Log each change between reaching Redis and not, once. */
  private state(up: boolean, reason: string): void {
    const was = this.up
    this.up = up
    if (was === up) return
    if (up) {
      // After an outage (or a first start without Redis) the others may not have registered again yet.
      if (was === false) {
        this.growOnlyUntil = Date.now() + this.opts.ttlMs
        this.opts.log?.info({url: redactUrl(this.opts.url)}, 'cluster membership: Redis reachable again')
      }
      return
    }
    this.opts.log?.warn({url: redactUrl(this.opts.url), reason, peers: this.current?.length ?? 1}, 'cluster membership: Redis unreachable, keeping the last peer list')
  }

  private async waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs
    while (!cond() && Date.now() < end && !this.closed) await new Promise((r) => setTimeout(r, Math.min(20, Math.max(1, end - Date.now()))))
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms}ms`)), ms)))])
  } finally {
    clearTimeout(timer)
  }
}

async function quit(client: Redis, timeoutMs: number): Promise<void> {
  try {
    if (client.status === 'ready') await withTimeout(client.quit(), timeoutMs)
  } catch {
    // fall through to the hard close
  }
  client.disconnect()
}

/** The URL without its password, for logs. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')
}
