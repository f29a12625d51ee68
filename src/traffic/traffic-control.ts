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
import type {FailMode} from './ratelimit/types.js'

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
            failModes: new Map(config.rules.flatMap((rule) => (rule.failMode !== undefined ? [[rule.name, rule.failMode] as const] : []))),
            fallbackShare: r.fallbackShare,
            // Its own local store: the fallback's keys do not crowd out the local rules' ones.
            fallback: new LocalLimiterStore({maxKeys: config.localMaxKeys}),
            onStateChange: ({up, reason}) => {
              if (up) log.info({reason}, 'rate limits: Redis answering again, shared limits restored')
              else log.warn({reason, failModes: failModes(config)}, unreachableMessage(config))
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
      log.warn({url: redactUrl(config.redis.url), failModes: failModes(config)}, 'rate limits: Redis not reachable at start; deciding on this node until it is')
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

/** The fail mode of each `store: redis` rule (its own, else rateLimits.redis.failMode). */
function failModes(config: RateLimitsConfigOutput): Record<string, FailMode> {
  const fallback = config.redis?.failMode ?? 'local'
  return Object.fromEntries(config.rules.filter((r) => r.store === 'redis').map((r) => [r.name, r.failMode ?? fallback]))
}

const UNREACHABLE: Record<FailMode, string> = {
  local: 'limits applied on this node',
  open: 'requests under shared limits allowed unlimited (failMode open)',
  closed: 'requests under shared limits refused (failMode closed)',
}

/** One line for the operator: what the shared rules do now that Redis is out. */
function unreachableMessage(config: RateLimitsConfigOutput): string {
  const byRule = failModes(config)
  const modes = [...new Set(Object.values(byRule))]
  if (modes.length === 1) return `rate limits: Redis unreachable, ${UNREACHABLE[modes[0]!]}`
  return `rate limits: Redis unreachable, per rule: ${Object.entries(byRule)
    .map(([name, mode]) => `${name} ${mode}`)
    .join(', ')}`
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@')
}
