/**
 * Header rewrite, the built-in plugin `tavern:header-rewrite` (also what the top-level `headerRewrite` key loads).
 * It uses only the public hook API: request rules in onOriginRequest (every origin call), response rules in onSend
 * (every answer: hits, misses, 304, 206, errors…; what is stored stays the origin's), and `onStore: true` response
 * rules in onOriginResponse (before anything is stored, so they change the cached copy).
 */
import type {HookContext, Hooks} from '../../core/hooks.js'
import {definePlugin} from '../define.js'
import {type HeaderRewriteConfig, HeaderRewriteOptions} from './options.js'
import {compileRules} from './rules.js'
import type {VariableLookup} from './template.js'

export const HEADER_REWRITE = 'header-rewrite'

function lookup(ctx: HookContext): VariableLookup {
  return (i) => {
    switch (i) {
      case 0:
        return ctx.host
      case 1:
        return ctx.path
      case 2:
        return ctx.clientIp ?? ctx.client
      case 3:
        return ctx.id
      case 4:
        return ctx.cacheStatus
      default:
        return ctx.upstream
    }
  }
}

/** The hooks for a set of rules (only the stages that have rules get a hook, so the others cost nothing). */
export function headerRewriteHooks(o: HeaderRewriteConfig, warn: (fields: object, msg: string) => void): Hooks {
  const request = compileRules(o.request.map((r, i) => [i, r] as const), 'request')
  const onStore = compileRules(o.response.flatMap((r, i) => (r.onStore ? [[i, r] as const] : [])), 'onStore')
  const onSend = compileRules(o.response.flatMap((r, i) => (r.onStore ? [] : [[i, r] as const])), 'response')
  const dropped = (list: string) => (rule: number, name: string) => warn({rule: `${list}[${rule}]`, header: name}, 'header rewrite: a substituted value held CR/LF/NUL; the line was not sent')
  const hooks: Hooks = {}
  if (request.size > 0) {
    const d = dropped('request')
    hooks.onOriginRequest = (ctx, head) => {
      head.headers = request.apply(head.headers, {host: ctx.host, path: ctx.path, method: ctx.method}, lookup(ctx), d)
    }
  }
  if (onStore.size > 0) {
    const d = dropped('response')
    hooks.onOriginResponse = (ctx, head) => {
      head.headers = onStore.apply(head.headers, {host: ctx.host, path: ctx.path, method: ctx.method, status: head.status}, lookup(ctx), d)
    }
  }
  if (onSend.size > 0) {
    const d = dropped('response')
    hooks.onSend = (ctx, head) => {
      head.headers = onSend.apply(head.headers, {host: ctx.host, path: ctx.path, method: ctx.method, status: head.status}, lookup(ctx), d)
    }
  }
  return hooks
}

export default definePlugin({
  name: HEADER_REWRITE,
  optionsSchema: HeaderRewriteOptions,
  setup: (options, api) => ({hooks: headerRewriteHooks(options, (fields, msg) => api.log.warn(fields, msg))}),
})
