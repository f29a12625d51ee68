/**
 * `purge --cluster`: one purge carried out on every node of the ring. This node purges through its own storage (the
 * admin purge); every other peer gets the data-plane PURGE method (proxy/purge-method.ts) at its peer URL, one request
 * per target, with the purge-type header (`dir`, `,hard` for a delete). Every peer is asked, not only a URL's owner:
 * a node that was down, a ring that changed, or a key rule that made a client pick a non-owner may have left copies
 * anywhere. Each peer must allow this node's address in its `purge.allow` (docs/cluster.md says why it is not
 * implied by membership). Answers are collected per node; a node that fails is reported with its reason, the others
 * are purged all the same.
 */
import {Agent, type Dispatcher} from 'undici'

import type {PurgeNodeResult} from '../admin/protocol.js'
import type {PurgeMode} from '../storage/types.js'
import {discardBody} from '../util/discard.js'

/** What one peer is asked to purge: an absolute http(s) URL, or the directory under one. */
export interface ClusterPurgeTarget {
  url: string
  dir: boolean
}

export interface LocalPurgeCounts {
  matched: number
  purged: number
  expired: number
  bytesFreed: number
}

export interface ClusterPurgeOptions {
  /** This node's peer id. */
  self: string
  /** The ring's members (ids); self may be among them. */
  peers: readonly string[]
  targets: readonly ClusterPurgeTarget[]
  mode: PurgeMode
  /** The purge-type header the peers read (`purge.header`; the same on every node). */
  header: string
  connectTimeoutMs: number
  /** Longest wait for one peer's answer to one target (a large directory takes a while). */
  timeoutMs: number
  /** PURGE requests in flight per peer. */
  concurrency?: number
  /** This node's own purge. */
  local: () => Promise<LocalPurgeCounts>
}

/** Largest PURGE answer read: it is a small JSON object. */
const MAX_ANSWER_BYTES = 64 * 1024

/** Purge on every node; resolves with one result per node (this node first, then the peers in ring order). */
export async function clusterPurge(o: ClusterPurgeOptions): Promise<PurgeNodeResult[]> {
  const others = [...new Set(o.peers)].filter((p) => p !== o.self)
  const agent = new Agent({connect: {timeout: o.connectTimeoutMs}, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs})
  try {
    const [mine, ...theirs] = await Promise.all([purgeHere(o), ...others.map((peer) => purgePeer(agent, peer, o))])
    return [mine!, ...theirs]
  } finally {
    await agent.close().catch(() => agent.destroy())
  }
}

function empty(node: string, self: boolean): PurgeNodeResult {
  return {node, self, ok: true, matched: 0, purged: 0, expired: 0, bytesFreed: 0, failed: 0}
}

async function purgeHere(o: ClusterPurgeOptions): Promise<PurgeNodeResult> {
  const r = empty(o.self, true)
  try {
    const c = await o.local()
    return {...r, matched: c.matched, purged: c.purged, expired: c.expired, bytesFreed: c.bytesFreed}
  } catch (error) {
    return {...r, ok: false, failed: o.targets.length, error: error instanceof Error ? error.message : String(error)}
  }
}

async function purgePeer(agent: Agent, peer: string, o: ClusterPurgeOptions): Promise<PurgeNodeResult> {
  const r = empty(peer, false)
  let next = 0
  // One failure to connect says the node is down: the remaining targets are not tried (each would wait again).
  let unreachable = false
  const worker = async () => {
    while (next < o.targets.length && !unreachable) {
      const t = o.targets[next++]!
      const a = await askPeer(agent, peer, t, o)
      if ('error' in a) {
        r.failed++
        r.error ??= a.error
        if (a.unreachable) unreachable = true
        continue
      }
      r.matched += a.matched
      r.purged += a.purged
      r.expired += a.expired
      r.bytesFreed += a.bytesFreed
    }
  }
  await Promise.all(Array.from({length: Math.min(o.concurrency ?? 16, o.targets.length)}, worker))
  if (unreachable) r.failed += o.targets.length - next
  r.ok = r.failed === 0
  return r
}

type Answer = LocalPurgeCounts | {error: string; unreachable: boolean}

async function askPeer(agent: Agent, peer: string, t: ClusterPurgeTarget, o: ClusterPurgeOptions): Promise<Answer> {
  const authority = /^https?:\/\/([^/?#]+)/i.exec(t.url)?.[1]
  if (!authority) return {error: `not an absolute http(s) URL: ${t.url}`, unreachable: false}
  const type = `${t.dir ? 'dir' : 'file'}${o.mode === 'delete' ? ',hard' : ''}`
  let status: number
  let text: string
  try {
    // Absolute form: a peer that trusts this node keys it under the URL's own scheme, as it keys what peers forward.
    const res = await agent.request({origin: peer, path: t.url, method: 'PURGE', headers: {host: authority, [o.header]: type, 'user-agent': 'tavern-cluster-purge'}})
    status = res.statusCode
    text = await readSmall(res.body)
  } catch (error) {
    const e = error as {code?: string; message?: string}
    const connect = e.code === 'ECONNREFUSED' || e.code === 'UND_ERR_CONNECT_TIMEOUT' || e.code === 'ENOTFOUND' || e.code === 'EHOSTUNREACH' || e.code === 'ECONNRESET'
    const message = e.message ?? String(error)
    return {error: `${connect ? 'unreachable' : 'failed'}: ${e.code && !message.includes(e.code) ? `${e.code} ` : ''}${message}`, unreachable: connect}
  }
  let body: {matched?: unknown; purged?: unknown; expired?: unknown; bytesFreed?: unknown; error?: {code?: unknown; message?: unknown}} = {}
  try {
    body = JSON.parse(text) as typeof body
  } catch {
    // Not a Tavern answer: said below by its status.
  }
  if (status === 403) return {error: `403 forbidden: PURGE from this node is not in ${peer}'s purge.allow`, unreachable: false}
  if (status !== 200 && status !== 404) {
    const why = typeof body.error?.message === 'string' ? body.error.message : text.slice(0, 200)
    return {error: `status ${status}${why ? `: ${why}` : ''}`, unreachable: false}
  }
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined)
  const matched = n(body.matched)
  if (matched === undefined) return {error: `status ${status} without a Tavern purge answer: ${JSON.stringify(text.slice(0, 200))}`, unreachable: false}
  const expired = n(body.expired) ?? 0
  return {matched, purged: o.mode === 'expire' ? expired : (n(body.purged) ?? 0), expired: o.mode === 'expire' ? expired : 0, bytesFreed: n(body.bytesFreed) ?? 0}
}

/** The answer's text, at most MAX_ANSWER_BYTES (the rest discarded). */
async function readSmall(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const c of body) {
      chunks.push(c)
      size += c.length
      if (size > MAX_ANSWER_BYTES) break
    }
  } finally {
    discardBody(body)
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, MAX_ANSWER_BYTES)
}
