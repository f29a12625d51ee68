/**
 * The data-plane PURGE method, as a built-in hook: an onRoute hook (it needs the request's cache key, which
 * preCacheKey hooks may shape) registered for PURGE only, so other methods never call it.
 */
import {keyPrefixForDir} from '../cache/cache-key.js'
import type {Answer, HookContext} from '../core/hooks.js'
import type {DataPlaneServices} from '../core/services.js'
import type {PurgeMode, PurgeResult} from '../storage/types.js'
import {allowListFor} from '../util/cidr.js'
import {getAll} from '../util/raw-headers.js'
import type {HookRegistration} from './hooks.js'

export interface PurgeType {
  dir: boolean
  mode: PurgeMode
}

/**
 * The purge-type header (`Purge-Type` by default): `file` (default) or `dir`, optionally `,hard`.
 * Without `hard` the objects are marked expired (the next request revalidates); with it they are deleted.
 * Returns undefined for anything else.
 */
export function parsePurgeType(values: readonly string[]): PurgeType | undefined {
  const tokens = values.flatMap((v) => v.split(',')).map((t) => t.trim().toLowerCase()).filter((t) => t !== '')
  let dir: boolean | undefined
  let hard = false
  for (const t of tokens) {
    if (t === 'hard') hard = true
    else if ((t === 'file' || t === 'dir') && dir === undefined) dir = t === 'dir'
    else return undefined
  }
  return {dir: dir ?? false, mode: hard ? 'delete' : 'expire'}
}

function json(status: number, body: unknown): Answer {
  return {status, headers: ['Content-Type', 'application/json', 'Cache-Control', 'no-store'], body: JSON.stringify(body) + '\n'}
}

/**
 * PURGE for the request's cache key. Only peers inside `purge.allow` may use it; everyone else gets 403 and nothing
 * changes. Answers `{"message":"success","mode":"delete", matched, purged, bytesFreed}` for a hard purge and
 * `{"message":"success","mode":"expire", matched, expired}` for a soft one (200), or the same shape with "not found"
 * and 404 when nothing matched.
 */
export async function purgeMethod(s: DataPlaneServices, ctx: HookContext): Promise<Answer> {
  const key = ctx.key
  const peer = ctx.client
  const {purge} = s.config
  if (!allowListFor(purge.allow).allows(peer)) {
    s.log.warn({peer, key, reqId: ctx.id}, 'PURGE refused: peer not in purge.allow')
    return json(403, {message: 'forbidden', error: {code: 'TAVERN_ERR_PURGE_FORBIDDEN', message: `PURGE is not allowed from ${peer ?? 'this address'}`}})
  }
  const given = getAll(ctx.headers, purge.header)
  const type = parsePurgeType(given)
  if (!type) {
    return json(400, {message: 'bad request', error: {code: 'TAVERN_ERR_BAD_PURGE_TYPE', message: `${purge.header} must be file|dir[,hard], not ${JSON.stringify(given.join(', '))}`}})
  }
  let r: PurgeResult
  let target = key
  if (type.dir) {
    target = keyPrefixForDir(key)
    r = await s.storage.purgePrefix(target, type.mode)
  } else {
    r = await s.storage.purgeKey(key, type.mode)
  }
  s.log.info({peer, key: target, dir: type.dir, mode: type.mode, ...r, reqId: ctx.id}, 'PURGE')
  s.stats.purges.record({at: Date.now(), source: 'PURGE', peer, mode: type.mode, scope: type.dir ? 'dir' : 'url', target, urls: type.dir ? 0 : 1, ...r})
  const status = r.matched > 0 ? 200 : 404
  const message = status === 200 ? 'success' : 'not found'
  // A soft purge deletes nothing: it says what it did (expired), not "purged … bytesFreed 0".
  if (type.mode === 'expire') return json(status, {message, mode: 'expire', matched: r.matched, expired: r.purged})
  return json(status, {message, mode: 'delete', matched: r.matched, purged: r.purged, bytesFreed: r.bytesFreed})
}

/** The PURGE method as a built-in plugin of every hook set. */
export function purgeMethodPlugin(s: DataPlaneServices): HookRegistration {
  return {plugin: 'tavern:purge', methods: ['PURGE'], hooks: {onRoute: (ctx) => purgeMethod(s, ctx)}}
}
