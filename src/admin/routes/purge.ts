import {clusterPurge, type ClusterPurgeTarget} from '../../cluster/cluster-purge.js'
import {TavernError} from '../../core/errors.js'
import type {OpsServices} from '../../core/services.js'
import {MAX_PURGE_BODY_BYTES, MAX_PURGE_URLS, parseMode, runPurge} from '../../ops/purge.js'
import {resolveTargets} from '../../ops/targets.js'
import {warmKeys} from '../../proxy/refresh/warm.js'
import {type AdminRouter, readObject, sendJson} from '../http.js'
import type {PurgeListReply, PurgeReply, PurgeRequestBody} from '../protocol.js'

/** Hot keys re-fetched after one purge --rewarm, at most. */
const REWARM_MAX = 10_000

/** `rewarm`: re-fetch in the background what was hot under each purged directory; returns how many keys. */
async function rewarm(o: OpsServices, reply: PurgeReply): Promise<number> {
  if (!o.hot) return 0
  const keys = new Set<string>()
  for (const item of reply.results) if (item.dir) for (const e of await o.hot.top(REWARM_MAX, item.key)) keys.add(e.key)
  if (keys.size === 0) return 0
  void o.background.run('rewarm', async () => {
    const s = await warmKeys(o, [...keys], o.config.warm.concurrency)
    o.log.info({keys: s.total, stored: s.stored, revalidated: s.revalidated, failed: s.failed}, 'rewarmed after purge')
  })
  return keys.size
}

/** This node and the ring's members as it sees them now (the static peers, or the live Redis membership). */
function ringMembers(o: OpsServices): {self: string; peers: string[]} {
  const ring = o.config.cluster ? o.clusterStatus?.() : undefined
  if (!ring) throw new TavernError('TAVERN_ERR_NOT_CLUSTERED', 'this daemon is not part of a cluster (no cluster section in its config)')
  return {self: ring.self, peers: ring.peers.map((p) => p.id)}
}

/** The absolute URLs a peer is sent, from a request already checked by resolveTargets. */
function peerTargets(body: PurgeRequestBody): ClusterPurgeTarget[] {
  const host = typeof body.host === 'string' && body.host.trim() !== '' ? body.host.trim() : undefined
  const absolute = (u: string) => (u.startsWith('/') && host ? `http://${host}${u}` : u)
  const urls = [...(typeof body.url === 'string' ? [body.url] : []), ...(Array.isArray(body.urls) ? (body.urls as string[]) : [])]
  const targets = urls.map((u) => ({url: absolute(u.trim()), dir: false}))
  if (typeof body.dir === 'string') targets.push({url: absolute(body.dir.trim()), dir: true})
  return targets
}

/** `cluster`: this node's purge and every peer's, with one result per node. */
async function purgeCluster(o: OpsServices, body: PurgeRequestBody): Promise<PurgeReply> {
  const {self, peers} = ringMembers(o)
  // Everything is checked before any node is asked.
  const mode = parseMode(body.mode)
  if (Array.isArray(body.urls) && body.urls.length > MAX_PURGE_URLS) throw new TavernError('TAVERN_ERR_TOO_MANY_URLS', `at most ${MAX_PURGE_URLS} URLs per request (got ${body.urls.length}); send longer lists in several requests`)
  const {urls, dir} = resolveTargets(o, body)
  if (urls.length === 0 && !dir) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', 'nothing to purge: give "urls" and/or "dir"')
  let mine: PurgeReply | undefined
  const nodes = await clusterPurge({
    self,
    peers,
    targets: peerTargets(body),
    mode,
    header: o.config.purge.header,
    connectTimeoutMs: o.config.cluster!.connectTimeout,
    // A peer's answer to one URL or directory is awaited as a forwarded response's head (a huge directory may need more).
    timeoutMs: o.config.cluster!.headersTimeout,
    local: async () => (mine = await runPurge(o, body)),
  })
  const failed = nodes.filter((n) => !n.ok)
  if (failed.length > 0) o.log.warn({failed: failed.map((n) => ({node: n.node, error: n.error}))}, 'cluster purge: some nodes did not purge')
  const reply: PurgeReply = mine ?? {mode, matched: 0, purged: 0, expired: 0, bytesFreed: 0, results: []}
  return {...reply, cluster: {nodes}}
}

/** POST /purge {url? | urls?, dir?, host?, mode, rewarm?, cluster?} → PurgeReply. Bad input is rejected before anything changes. */
export function mountPurge(router: AdminRouter, o: OpsServices): void {
  router.on('POST', '/purge', async (req, res) => {
    const body = await readObject<PurgeRequestBody>(req, MAX_PURGE_BODY_BYTES)
    if (body.rewarm !== undefined && body.rewarm !== null && typeof body.rewarm !== 'boolean') throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', '"rewarm" must be true or false')
    if (body.rewarm === true && !body.dir) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', '"rewarm" needs "dir" (it re-fetches what was hot under the purged prefix)')
    if (body.cluster !== undefined && body.cluster !== null && typeof body.cluster !== 'boolean') throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', '"cluster" must be true or false')
    if (body.cluster === true) {
      if (body.rewarm === true) throw new TavernError('TAVERN_ERR_BAD_ARGUMENT', '"rewarm" re-fetches on this node only: not with "cluster"')
      sendJson(res, 200, await purgeCluster(o, body))
      return
    }
    const reply = await runPurge(o, body)
    if (body.rewarm === true) reply.rewarm = {keys: await rewarm(o, reply)}
    sendJson(res, 200, reply)
  })
  /** GET /purges → PurgeListReply: the recent purges, newest first. */
  router.on('GET', '/purges', (_req, res) => sendJson(res, 200, o.stats.purges.list() satisfies PurgeListReply))
}
