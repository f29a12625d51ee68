/**
 * The rate-limit decision for one request: every rule that covers it takes one unit from its bucket/window (keyed as
 * the rule says); the first rule (in config order) that refuses decides the answer, otherwise the longest delay of
 * the `delay` rules holds the request. Pure apart from the stores and the per-rule delay queues, so the `onRequest`
 * plugin is a few lines (see docs/rate-limits.md "Wiring"):
 *
 *   const v = limiter.check(req)                        // sync with local stores; a Promise only with Redis
 *   if (v.action === 'reject') return rejectAnswer(v)
 *   if (v.action === 'drop') destroy the socket
 *   if (v.action === 'delay') await sleep(v.delayMs) then v.release()
 *   add v.headers to the response (onSend)
 *
 * Rules with `exemptCacheHits` are checked in the `origin` phase instead (once the lookup knows the request needs the
 * origin), so cache hits cost them nothing.
 */
import {policyItem, retryAfterSeconds, stateItem} from './headers.js'
import {type KeyPart, type KeyRequest, limitKey} from './keys.js'
import type {LocalLimiterStore} from './local-store.js'
import type {LimiterStore, StoreDecision} from './store.js'
import type {RateLimitRuleConfig, RateLimitsConfigOutput} from './config.js'
import type {LimitSpec} from './types.js'

export interface RateLimitRequest extends KeyRequest {
  method: string
}

export type RateLimitPhase = 'request' | 'origin'
export type RateLimitAction = 'allow' | 'reject' | 'delay' | 'drop'

export interface RateLimitVerdict {
  action: RateLimitAction
  /** reject: the status to answer (429, or 503 as configured). */
  status: number
  /** delay: how long to hold the request before serving it. */
  delayMs: number
  /** reject/drop: when asking again can succeed. */
  retryAfterMs: number
  /** RateLimit-Policy / RateLimit (and Retry-After when refused) header lines for the answer. */
  headers: string[]
  /** The rule that decided (refused or delayed); undefined when allowed. */
  rule?: string
  /** delay: free the queue place once the wait is over (idempotent; a no-op for other actions). */
  release(): void
}

export type DecisionCounts = Record<RateLimitAction, number>

interface CompiledRule {
  name: string
  spec: LimitSpec
  key: readonly KeyPart[]
  shareMissing: boolean
  methods?: ReadonlySet<string>
  paths?: readonly string[]
  routes?: ReadonlySet<string>
  action: 'reject' | 'delay' | 'drop'
  status: number
  maxQueue: number
  phase: RateLimitPhase
  store: LimiterStore
  headers: boolean
  /** Its RateLimit-Policy item, formatted once. */
  policyItem: string
  queued: number
}

export interface RateLimiterDeps {
  local: LocalLimiterStore
  /** Needed when a rule says `store: redis`. */
  redis?: LimiterStore
}

const DEFAULT_MAX_DELAY_MS = 1000
const DEFAULT_MAX_QUEUE = 1024
const NOOP = () => {}

export class RateLimiter {
  private readonly byPhase: Record<RateLimitPhase, CompiledRule[]> = {request: [], origin: []}
  private readonly counts: DecisionCounts = {allow: 0, reject: 0, delay: 0, drop: 0}
  /** Requests each rule refused, delayed or dropped (the rule that decided). */
  private readonly byRule = new Map<string, DecisionCounts>()

  constructor(config: Pick<RateLimitsConfigOutput, 'rules'>, deps: RateLimiterDeps) {
    for (const r of config.rules) {
      const rule = compile(r, deps)
      this.byPhase[rule.phase].push(rule)
    }
  }

  /** Whether any rule runs in `phase` (skip the call entirely when not). */
  has(phase: RateLimitPhase): boolean {
    return this.byPhase[phase].length > 0
  }

  decisions(): Readonly<DecisionCounts> {
    return this.counts
  }

  check(req: RateLimitRequest, phase: RateLimitPhase = 'request'): RateLimitVerdict | Promise<RateLimitVerdict> {
    const rules = this.byPhase[phase]
    if (rules.length === 0) return this.count(ALLOW)
    const applied: CompiledRule[] = []
    const results: Array<StoreDecision | Promise<StoreDecision>> = []
    let pending = false
    const path = pathOf(req.target)
    for (const rule of rules) {
      if (!covers(rule, req, path)) continue
      let key = limitKey(rule.key, req)
      if (key === undefined) {
        if (!rule.shareMissing) continue
        key = '(missing)'
      }
      const d = rule.store.decide(rule.name, key, rule.spec, 1)
      if (d instanceof Promise) pending = true
      applied.push(rule)
      results.push(d)
    }
    if (applied.length === 0) return this.count(ALLOW)
    if (!pending) return this.count(combine(applied, results as StoreDecision[]))
    return Promise.all(results).then((ds) => this.count(combine(applied, ds)))
  }

  /** Decisions other than allow, per rule that made them. */
  ruleDecisions(): ReadonlyMap<string, Readonly<DecisionCounts>> {
    return this.byRule
  }

  /** Whether a rule matches or keys by route (then the check runs once the request is routed). */
  needsRoute(): boolean {
    return [...this.byPhase.request, ...this.byPhase.origin].some((r) => r.routes !== undefined || r.key.some((k) => 'route' in k))
  }

  /** Names of the rules, in config order. */
  rules(): string[] {
    return [...this.byPhase.request, ...this.byPhase.origin].map((r) => r.name)
  }

  private count(v: RateLimitVerdict): RateLimitVerdict {
    this.counts[v.action]++
    if (v.rule !== undefined) {
      let c = this.byRule.get(v.rule)
      if (!c) this.byRule.set(v.rule, (c = {allow: 0, reject: 0, delay: 0, drop: 0}))
      c[v.action]++
    }
    return v
  }
}

const ALLOW: RateLimitVerdict = Object.freeze({action: 'allow', status: 200, delayMs: 0, retryAfterMs: 0, headers: Object.freeze([]) as unknown as string[], rule: undefined, release: NOOP})

function combine(rules: readonly CompiledRule[], ds: readonly StoreDecision[]): RateLimitVerdict {
  // Header values built as strings in one pass (RateLimit-Policy items are pre-formatted per rule).
  let policy = ''
  let state = ''
  let refused = -1
  let delayed = -1
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!
    const d = ds[i]!
    if (r.headers) {
      const sep = policy === '' ? '' : ', '
      policy += sep + r.policyItem
      state += sep + stateItem({name: r.name, remaining: d.remaining, resetMs: d.resetMs})
    }
    if (!d.allowed) {
      if (refused === -1) refused = i
    } else if (r.action === 'delay' && d.delayMs > 0 && (delayed === -1 || d.delayMs > ds[delayed]!.delayMs)) delayed = i
  }
  const headers = policy === '' ? [] : ['RateLimit-Policy', policy, 'RateLimit', state]
  if (refused !== -1) return refusal(rules[refused]!, ds[refused]!.retryAfterMs, headers)
  if (delayed === -1) return {action: 'allow', status: 200, delayMs: 0, retryAfterMs: 0, headers, rule: undefined, release: NOOP}
  // A place in every delaying rule's queue; any queue full → refused by that rule.
  const held: CompiledRule[] = []
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!
    if (r.action !== 'delay' || !(ds[i]!.delayMs > 0)) continue
    if (r.queued >= r.maxQueue) {
      for (const h of held) h.queued--
      return refusal(r, ds[i]!.delayMs, headers)
    }
    r.queued++
    held.push(r)
  }
  let released = false
  return {
    action: 'delay',
    status: 200,
    delayMs: ds[delayed]!.delayMs,
    retryAfterMs: 0,
    headers,
    rule: rules[delayed]!.name,
    release() {
      if (released) return
      released = true
      for (const h of held) h.queued--
    },
  }
}

function refusal(rule: CompiledRule, retryAfterMs: number, headers: string[]): RateLimitVerdict {
  const s = retryAfterSeconds(retryAfterMs)
  return {
    action: rule.action === 'drop' ? 'drop' : 'reject',
    status: rule.status,
    delayMs: 0,
    retryAfterMs,
    headers: s > 0 ? headers.concat('Retry-After', String(s)) : headers,
    rule: rule.name,
    release: NOOP,
  }
}

/** The answer for a refused request (the hook returns it as its short-circuit Answer). */
export function rejectAnswer(v: RateLimitVerdict): {status: number; headers: string[]; body: string} {
  return {
    status: v.status,
    headers: ['Content-Type', 'text/plain; charset=utf-8', 'Cache-Control', 'no-store', ...v.headers],
    body: `rate limit exceeded (${v.rule ?? 'limit'}); retry after ${retryAfterSeconds(v.retryAfterMs)} s\n`,
  }
}

function covers(rule: CompiledRule, req: RateLimitRequest, path: string): boolean {
  if (rule.methods && !rule.methods.has(req.method.toUpperCase())) return false
  if (rule.routes && !rule.routes.has(req.route ?? 'default')) return false
  if (rule.paths && !rule.paths.some((p) => path.startsWith(p))) return false
  return true
}

function pathOf(target: string): string {
  const q = target.indexOf('?')
  return q === -1 ? target : target.slice(0, q)
}

function compile(r: RateLimitRuleConfig, deps: RateLimiterDeps): CompiledRule {
  const store = r.store === 'redis' ? deps.redis : deps.local
  if (!store) throw new Error(`rate limit rule ${JSON.stringify(r.name)} uses store: redis, but no Redis store was given`)
  const bucket = r.algorithm === 'token-bucket' || r.algorithm === 'leaky-bucket'
  return {
    name: r.name,
    spec: {
      algorithm: r.algorithm,
      limit: r.limit,
      windowMs: r.window,
      burst: bucket ? (r.burst ?? r.limit) : 0,
      maxDelayMs: r.action === 'delay' ? (r.maxDelay ?? DEFAULT_MAX_DELAY_MS) : 0,
    },
    key: r.key,
    shareMissing: r.ifMissing === 'share',
    methods: r.match.methods ? new Set(r.match.methods) : undefined,
    paths: r.match.paths,
    routes: r.match.routes ? new Set(r.match.routes) : undefined,
    action: r.action,
    status: r.status,
    maxQueue: r.maxQueue ?? DEFAULT_MAX_QUEUE,
    phase: r.exemptCacheHits ? 'origin' : 'request',
    store,
    headers: r.headers,
    policyItem: policyItem({name: r.name, limit: r.limit, windowMs: r.window}),
    queued: 0,
  }
}
