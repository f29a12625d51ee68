/**
 * The header-rewrite options (the top-level `headerRewrite` key, or the options of `tavern:header-rewrite` in
 * `plugins`): request rules (headers sent to the origin) and response rules (headers sent to clients). Every name
 * and value template is checked here, so a bad rule is a config error naming its index, never a request failure.
 */
import {z} from 'zod'

import {compileTemplate, type VariableName, VARIABLES} from './template.js'

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** Fields that frame the message or the connection: a rule changing them would corrupt what is sent. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection'])

export type RuleKind = 'request' | 'response' | 'onStore'

/** Where a rule runs decides what is known: the upstream only once one answered, the cache status only on send. */
export const STAGE_VARIABLES: Readonly<Record<RuleKind, ReadonlySet<VariableName>>> = {
  request: new Set(['host', 'path', 'remote_addr', 'request_id']),
  onStore: new Set(['host', 'path', 'remote_addr', 'request_id', 'upstream']),
  response: new Set(VARIABLES),
}
const STAGE_NAMES: Record<RuleKind, string> = {request: 'request rules (sent before the origin is chosen)', onStore: 'onStore rules (run before the cache status is known)', response: 'response rules'}

const hostPattern = z
  .string()
  .min(1)
  .transform((s) => s.toLowerCase())
  .refine((s) => /^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/.test(s), {message: 'expected a host name, *.domain or [IPv6], optionally with :port'})
const statusPattern = z.union([z.number().int().min(100).max(599), z.string().regex(/^[1-5]xx$/, 'expected a status code or a class such as "2xx"')])

const Match = z.strictObject({
  /** Host names (exact, or `*.example.com` for any subdomain); a pattern without a port matches every port. */
  hosts: z.array(hostPattern).min(1).optional(),
  /** Path prefixes (`/static/`); matched against the path without the query. */
  paths: z.array(z.string().startsWith('/', 'a path prefix starts with /')).min(1).optional(),
  /** Client request methods. */
  methods: z.array(z.string().regex(/^[A-Z]+$/, 'expected an upper-case method name')).min(1).optional(),
})
const ResponseMatch = Match.extend({
  /** Statuses of the answer (numbers or classes like "5xx"). */
  status: z.array(statusPattern).min(1).optional(),
})

const value = z.string().max(8192)
const Actions = {
  /** Replace every line of the field with one (added when absent). */
  set: z.record(z.string(), value).optional(),
  /** Append lines (an array adds several). */
  add: z.record(z.string(), z.union([value, z.array(value)])).optional(),
  /** Remove every line of these fields. */
  remove: z.array(z.string()).optional(),
  /** Rename fields, keeping values and positions: {Old-Name: New-Name}. */
  rename: z.record(z.string(), z.string()).optional(),
}

function checkRule(rule: {set?: Record<string, string>; add?: Record<string, string | string[]>; remove?: string[]; rename?: Record<string, string>}, kind: RuleKind, ctx: z.core.$RefinementCtx): void {
  const issue = (path: Array<string | number>, message: string) => ctx.addIssue({code: 'custom', message, path})
  const name = (path: Array<string | number>, n: string, action: string) => {
    if (!TOKEN.test(n)) return issue(path, `${JSON.stringify(n)} is not a header field name`)
    const l = n.toLowerCase()
    if (FRAMING.has(l)) return issue(path, `${n} frames the message and cannot be rewritten`)
    if (kind !== 'request' && l === 'content-range') return issue(path, 'Content-Range frames a partial answer and cannot be rewritten')
    if (kind === 'request' && l === 'host' && action !== 'set') return issue(path, 'Host can only be set (the origin needs one)')
  }
  const tpl = (path: Array<string | number>, v: string) => {
    const r = compileTemplate(v, STAGE_VARIABLES[kind], STAGE_NAMES[kind])
    if ('error' in r) issue(path, r.error)
  }
  for (const [n, v] of Object.entries(rule.set ?? {})) {
    name(['set', n], n, 'set')
    tpl(['set', n], v)
  }
  for (const [n, v] of Object.entries(rule.add ?? {})) {
    name(['add', n], n, 'add')
    const vs = Array.isArray(v) ? v : [v]
    vs.forEach((x, i) => tpl(Array.isArray(v) ? ['add', n, i] : ['add', n], x))
  }
  rule.remove?.forEach((n, i) => name(['remove', i], n, 'remove'))
  for (const [from, to] of Object.entries(rule.rename ?? {})) {
    name(['rename', from], from, 'rename')
    name(['rename', from], to, 'rename')
  }
  if (!rule.set && !rule.add && !rule.remove && !rule.rename) issue([], 'a rule needs at least one of set, add, remove, rename')
}

const RequestRule = z.strictObject({match: Match.optional(), ...Actions}).superRefine((r, ctx) => checkRule(r, 'request', ctx))
const ResponseRule = z
  .strictObject({
    match: ResponseMatch.optional(),
    ...Actions,
    /** Apply before the response is stored (onOriginResponse) instead of on send: changes what is cached. */
    onStore: z.boolean().default(false),
  })
  .superRefine((r, ctx) => checkRule(r, r.onStore ? 'onStore' : 'response', ctx))

export const HeaderRewriteOptions = z.strictObject({
  /** Rules for requests to the origin (all origin calls: fills, revalidations, slices, pass-through). */
  request: z.array(RequestRule).default([]),
  /** Rules for answers to clients (hits, misses, 304, 206, errors…), or with onStore: true for what is stored. */
  response: z.array(ResponseRule).default([]),
})

export type HeaderRewriteConfig = z.output<typeof HeaderRewriteOptions>
export type RequestRuleConfig = z.output<typeof RequestRule>
export type ResponseRuleConfig = z.output<typeof ResponseRule>
