import type {ServerResponse} from 'node:http'

import {keyPrefixForDir} from '../cache/cache-key.js'
import type {Daemon} from '../daemon/daemon.js'
import type {RequestContext} from '../proxy/request-context.js'
import type {PurgeMode, PurgeResult} from '../storage/types.js'
import {getAll} from '../util/raw-headers.js'
import {allowListFor} from './cidr.js'

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

function sendPurgeJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body) + '\n'
  res.writeHead(status, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), 'Cache-Control': 'no-store'})
  res.end(payload)
}

/**
 * The data-plane PURGE method for the request's cache key. Only peers inside `purge.allow` may use it; everyone
 * else gets 403 and nothing changes. Answers `{"message":"success", matched, purged, bytesFreed}` (200), or the same
 * shape with "not found" and 404 when nothing matched.
 */
export async function handlePurgeMethod(d: Daemon, ctx: RequestContext, key: string): Promise<{status: number}> {
  const {req, res} = ctx
  req.resume() // a PURGE body means nothing to us; drain it so keep-alive works
  const peer = req.socket.remoteAddress
  if (!allowListFor(d.config.purge.allow).allows(peer)) {
    d.log.warn({peer, key, reqId: ctx.id}, 'PURGE refused: peer not in purge.allow')
    sendPurgeJson(res, 403, {message: 'forbidden', error: {code: 'forbidden', message: `PURGE is not allowed from ${peer ?? 'this address'}`}})
    return {status: 403}
  }
  const type = parsePurgeType(getAll(req.rawHeaders, d.config.purge.header))
  if (!type) {
    const given = getAll(req.rawHeaders, d.config.purge.header).join(', ')
    sendPurgeJson(res, 400, {message: 'bad request', error: {code: 'bad_purge_type', message: `${d.config.purge.header} must be file|dir[,hard], not ${JSON.stringify(given)}`}})
    return {status: 400}
  }
  let r: PurgeResult
  let target = key
  if (type.dir) {
    target = keyPrefixForDir(key)
    r = await d.storage.purgePrefix(target, type.mode)
  } else {
    r = await d.storage.purgeKey(key, type.mode)
  }
  d.log.info({peer, key: target, dir: type.dir, mode: type.mode, ...r, reqId: ctx.id}, 'PURGE')
  const status = r.matched > 0 ? 200 : 404
  sendPurgeJson(res, status, {message: status === 200 ? 'success' : 'not found', matched: r.matched, purged: r.purged, bytesFreed: r.bytesFreed})
  return {status}
}
