import {TavernError} from '../core/errors.js'
import type {OpsServices} from '../core/services.js'
import type {PurgeMode} from '../storage/types.js'
import type {PurgeItem, PurgeReply, PurgeRequestBody} from '../admin/protocol.js'
import {closeKeys} from './suggest-keys.js'
import {resolveTargets} from './targets.js'

/** Most URLs one POST /purge may name (README); the CLI sends long lists in batches (commands/purge.ts). */
export const MAX_PURGE_URLS = 1_000_000
/** Largest POST /purge body: room for MAX_PURGE_URLS URLs of typical length. */
export const MAX_PURGE_BODY_BYTES = 128 * 1024 * 1024
/** Unmatched URLs of one request that get "did you mean" suggestions (each costs a bounded key scan). */
const MAX_SUGGESTED = 5
/** Purges of single keys in flight at once within one request. */
const PURGE_CONCURRENCY = 64

export function parseMode(mode: unknown): PurgeMode {
  if (mode === undefined || mode === null) return 'delete'
  if (mode === 'delete' || mode === 'expire') return mode
  throw new TavernError('TAVERN_ERR_BAD_MODE', `"mode" must be "delete" or "expire", not ${JSON.stringify(mode)}`)
}

/**
 * POST /purge. Every URL: all its Vary variants (storage.purgeKey). A directory: one batched LMDB key-range scan
 * (storage.purgePrefix), which yields to the event loop between batches so the data plane keeps running.
 * Validates everything before touching storage, so a bad argument changes nothing.
 */
export async function runPurge(d: OpsServices, body: PurgeRequestBody): Promise<PurgeReply> {
  const mode = parseMode(body.mode)
  if (Array.isArray(body.urls) && body.urls.length > MAX_PURGE_URLS) {
    throw new TavernError('TAVERN_ERR_TOO_MANY_URLS', `at most ${MAX_PURGE_URLS} URLs per request (got ${body.urls.length}); send longer lists in several requests`)
  }
  const {urls, dir} = resolveTargets(d, body)
  if (urls.length === 0 && !dir) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', 'nothing to purge: give "urls" and/or "dir"')
  const reply: PurgeReply = {mode, matched: 0, purged: 0, expired: 0, bytesFreed: 0, results: []}
  const add = (item: PurgeItem) => {
    reply.results.push(item)
    reply.matched += item.matched
    reply.purged += item.purged
    reply.expired += item.expired
    reply.bytesFreed += item.bytesFreed
  }
  const expired = (r: {purged: number}) => (mode === 'expire' ? r.purged : 0)
  // Keys are independent: several in flight at once let LMDB commit them in shared transactions (one at a time,
  // 300,000 URLs took over a minute). Results keep the order of the request.
  const items = new Array<PurgeItem>(urls.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < urls.length) {
      const i = next++
      const t = urls[i]!
      const r = await d.storage.purgeKey(t.key, mode)
      items[i] = {url: t.url, key: t.key, ...r, expired: expired(r)}
    }
  }
  await Promise.all(Array.from({length: Math.min(PURGE_CONCURRENCY, urls.length)}, worker))
  for (const item of items) add(item)
  // Keys that matched nothing: say which close keys exist (the usual slip is the port or the scheme).
  let suggested = 0
  for (const item of items) {
    if (item.matched > 0 || suggested >= MAX_SUGGESTED) continue
    suggested++
    const close = await closeKeys(d, item.key)
    if (close.length > 0) item.suggestions = close
  }
  if (dir) {
    const r = await d.storage.purgePrefix(dir.prefix, mode)
    add({url: dir.dir, key: dir.prefix, dir: true, ...r, expired: expired(r)})
  }
  d.log.info({mode, urls: urls.length, dir: dir?.prefix, matched: reply.matched, purged: reply.purged, bytesFreed: reply.bytesFreed}, 'purge')
  const scope = urls.length > 0 && dir ? 'urls+dir' : dir ? 'dir' : urls.length === 1 ? 'url' : 'urls'
  const target = dir && urls.length === 0 ? dir.prefix : urls.length === 1 ? urls[0]!.key : `${urls[0]!.key} and ${urls.length - 1} more${dir ? `, dir ${dir.prefix}` : ''}`
  d.stats.purges.record({at: Date.now(), source: 'admin', mode, scope, target, urls: urls.length, matched: reply.matched, purged: reply.purged, bytesFreed: reply.bytesFreed})
  return reply
}
