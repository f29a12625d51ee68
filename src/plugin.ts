/**
 * The public plugin API, imported by plugin authors as `tavern/plugin`:
 *
 *   import {definePlugin, z} from 'tavern/plugin'
 *   export default definePlugin({name: 'deny', optionsSchema: z.strictObject({…}), setup: (opts, api) => ({hooks: {…}})})
 *
 * docs/plugins.md describes hooks, their order and contracts. Only what is exported here is public.
 */
export {z} from 'zod'

export {definePlugin} from './plugins/define.js'
export type {OptionsSchema, PluginApi, PluginDefinition, PluginLogger, PluginParts} from './plugins/define.js'
export {contextKey, composeOrigin} from './proxy/hooks.js'
export {getAll, getHeader, setHeader, withoutHeaders} from './util/raw-headers.js'
export type {RawHeaders} from './util/raw-headers.js'
export type {
  Answer,
  CacheOutcome,
  ContextKey,
  HookContext,
  HookName,
  Hooks,
  KeyParts,
  Locals,
  MaybePromise,
  OriginRequestHead,
  OriginResponseHead,
  ResponseSummary,
  Route,
  SendHead,
} from './core/hooks.js'
export type {OriginCall, OriginCallContext, OriginInterceptor, OriginReason, OriginRequest, OriginResponse, Origins} from './core/origin.js'
