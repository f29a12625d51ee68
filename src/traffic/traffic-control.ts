/**
 * The daemon's rate limiting, built from `rateLimits`: the local store, the Redis store when a rule shares its limit
 * through Redis, the limiter and its plugin registration. A reload that changes `rateLimits` builds a new one (the
 * old one is closed once the new plugin set is in place); one that does not keeps it, counts included.
 */
import type {HookRegistration} from '../proxy/hooks.js'
import type {RateLimitsConfigOutput} from './ratelimit/config.js'
import {type DecisionCounts, RateLimiter} from './ratelimit/limiter.js'
import {LocalLimiterStore} from './ratelimit/local-store.js'
import {rateLimitPlugin} from './ratelimit/plugin.js'
import {RedisLimiterStore} from './ratelimit/redis-store.js'

export interface TrafficLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export class TrafficControl {
  readonly limiter: RateLimiter
  readonly redis: RedisLimiterStore | undefined
  private readonly registration: HookRegistration | undefined

  private constructor(
    readonly config: RateLimitsConfigOutput,
    log: TrafficLog,
  ) {
    const local = new LocalLimiterStore({maxKeys: config.localMaxKeys})
    const r = config.redis
    this.redis =
      r && config.rules.some((rule) => rule.store === 'redis')
        ? new RedisLimiterStore({
            url: r.url,
            prefix: r.prefix,
            commandTimeoutMs: r.commandTimeout,
            connectTimeoutMs: r.connectTimeout,
            retryIntervalMs: r.retryInterval,
            failMode: r.failMode,
            fallbackShare: r.fallbackShare,
            // Its own local store: the fallback's keys do not crowd out the local rules' ones.
            fallback: new LocalLimiterStore({maxKeys: config.localMaxKeys}),
            onStateChange: ({up, reason}) => {
              if (up) log.info({reason}, 'rate limits: Redis answering again, shared limits restored')
              else log.warn({reason, failMode: r.failMode}, r.failMode === 'open' ? 'rate limits: Redis unreachable, limits applied on this node' : 'rate limits: Redis unreachable, requests under shared limits refused (failMode closed)')
            },
          })
        : undefined
    this.limiter = new RateLimiter(config, {local, redis: this.redis})
    this.registration = config.rules.length > 0 ? rateLimitPlugin(this.limiter) : undefined
  }

  /** Build and, with Redis, wait (at most its connectTimeout) for the first connection, so fail-closed rules do not refuse the first requests. */
  static async create(config: RateLimitsConfigOutput, log: TrafficLog): Promise<TrafficControl> {
    const t = new TrafficControl(config, log)
    if (t.redis && config.redis && !(await t.redis.waitReady(config.redis.connectTimeout))) {
      log.warn({url: redactUrl(config.redis.url), failMode: config.redis.failMode}, 'rate limits: Redis not reachable at start; deciding on this node until it is')
    }
    return t
  }

  /** Whether `next` differs from what this one was built from. */
  changed(next: RateLimitsConfigOutput): boolean {
    return JSON.stringify(next) !== JSON.stringify(this.config)
  }

  /** The plugin registrations to put in the hook set (none without rules). */
  registrations(): HookRegistration[] {
    return this.registration ? [this.registration] : []
  }

  decisions(): Readonly<DecisionCounts> {
    return this.limiter.decisions()
  }

  async close(): Promise<void> {
    await this.redis?.close()
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@')
}
