import {TavernError} from '../core/errors.js'
import type {OpsServices} from '../core/services.js'
import type {PurgeMode} from '../storage/types.js'
import type {PurgeItem, PurgeReply, PurgeRequestBody} from '../admin/protocol.js'
import {resolveTargets} from './targets.js'

/** Most URLs one POST /purge may name (README); the CLI sends long lists in batches (commands/purge.ts). */
export const MAX_PURGE_URLS = 1_000_000
/** Largest POST /purge body: room for MAX_PURGE_URLS URLs of typical length. */
export const MAX_PURGE_BODY_BYTES = 128 * 1024 * 1024
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
  const reply: PurgeReply = {mode, matched: 0, purged: 0, bytesFreed: 0, results: []}
  const add = (item: PurgeItem) => {
    reply.results.push(item)
    reply.matched += item.matched
    reply.purged += item.purged
    reply.bytesFreed += item.bytesFreed
  }
  // Keys are independent: several in flight at once let LMDB commit them in shared transactions (one at a time,
  // 300,000 URLs took over a minute). Results keep the order of the request.
  const items = new Array<PurgeItem>(urls.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < urls.length) {
      const i = next++
      const t = urls[i]!
      items[i] = {url: t.url, key: t.key, ...(await d.storage.purgeKey(t.key, mode))}
    }
  }
  await Promise.all(Array.from({length: Math.min(PURGE_CONCURRENCY, urls.length)}, worker))
  for (const item of items) add(item)
  if (dir) {
    const r = await d.storage.purgePrefix(dir.prefix, mode)
    add({url: dir.dir, key: dir.prefix, dir: true, ...r})
  }
  d.log.info({mode, urls: urls.length, dir: dir?.prefix, matched: reply.matched, purged: reply.purged, bytesFreed: reply.bytesFreed}, 'purge')
  return reply
}
