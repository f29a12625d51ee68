import {Args, Flags} from '@oclif/core'

import {clientFlags} from '../cli/base.js'
import {formatBytes, padLeft, padRight} from '../util/format.js'
import {EXIT} from '../client/admin-client.js'
import type {AdminTransport} from '../client/admin-http.js'
import {collectTargets, OpsCommand, plural, ProgressLine} from '../cli/ops.js'
import type {PurgeListReply, PurgeNodeResult, PurgeReply} from '../admin/protocol.js'
import {RECENT_PURGES} from '../stats/purge-history.js'

const SHOWN = 20
/** URLs per request: a long list goes in several (the daemon takes at most 1,000,000 per request). */
const BATCH_URLS = 50_000

/** What the daemon accepts as a purge target: an absolute http(s) URL, or a path when --host is given. */
function plausibleTarget(raw: string, host: string | undefined): boolean {
  const u = raw.trim()
  if (u.startsWith('/')) return Boolean(host)
  if (!/^https?:\/\//i.test(u)) return false
  try {
    return new URL(u).hostname !== ''
  } catch {
    return false
  }
}

export default class Purge extends OpsCommand {
  static override description = `Remove objects from the cache (all Vary variants of each URL), or with --expire mark them stale so the next request revalidates.
--dir purges everything under a path prefix (path-boundary aware: /static/ never touches /static-old/).
A URL that is not cached is not an error (exit 0, matched 0) unless --strict (exit 1); the key looked up is shown,
with stored keys of the same path under another port or scheme ("did you mean").
A bad entry of a list is named by its file and line, and nothing is purged.
--cluster purges on every node of the cluster (this daemon's ring) and reports per node; exit 1 names each node that
failed (unreachable, or this node's address not in its purge.allow), the others are purged all the same.
--list shows the recent purges (like Varnish's ban.list) instead of purging.
Exit codes: 0 done, 1 failed (or --strict and something was not cached), 2 usage error, 3 daemon unreachable.`
  static override examples = [
    '<%= config.bin %> purge http://example.com/app.js http://example.com/app.css',
    '<%= config.bin %> purge --expire --file urls.txt',
    'cat urls.txt | <%= config.bin %> purge -',
    '<%= config.bin %> purge --dir /static/ --host example.com',
    '<%= config.bin %> purge --dir http://example.com/static/ --expire --json',
    '<%= config.bin %> purge --dir http://example.com/static/ --rewarm',
    '<%= config.bin %> purge --dir http://example.com/static/ --cluster',
    '<%= config.bin %> purge --list',
  ]
  static override strict = false
  static override enableJsonFlag = true
  static override args = {
    url: Args.string({description: 'URL(s) to purge; "-" reads a list from stdin; with --host, a path like /a.js'}),
  }
  static override flags = {
    ...clientFlags,
    file: Flags.string({char: 'f', description: 'read URLs from a file, one per line ("-" = stdin; # comments)'}),
    dir: Flags.string({description: 'purge everything under this prefix: a full URL (http://host/static/) or a path with --host'}),
    host: Flags.string({description: 'host[:port] for --dir PATH and for path arguments'}),
    expire: Flags.boolean({description: 'mark stale (next request revalidates) instead of deleting'}),
    strict: Flags.boolean({description: 'exit 1 when a URL (or the directory) matched nothing'}),
    rewarm: Flags.boolean({description: 'with --dir: re-fetch in the background what was hot under the prefix', dependsOn: ['dir']}),
    cluster: Flags.boolean({description: 'purge on every node of the cluster (each peer gets a data-plane PURGE) and report per node', exclusive: ['rewarm', 'strict']}),
    list: Flags.boolean({description: `show the recent purges instead of purging (newest first, the last ${RECENT_PURGES}: time, source, mode, scope, counts)`, exclusive: ['file', 'dir', 'expire', 'strict', 'cluster']}),
  }

  async run(): Promise<PurgeReply | PurgeListReply> {
    const {flags, argv} = await this.parse(Purge)
    if (flags.list) {
      if ((argv as string[]).length > 0) this.usage('--list takes no URLs')
      return this.list(await this.adminTransport(flags))
    }
    let urls: string[]
    let where: (i: number) => string
    try {
      ;({urls, where} = await collectTargets(argv as string[], flags.file))
    } catch (error) {
      this.usage(`cannot read the URL list: ${(error as Error).message}`)
    }
    if (urls.length === 0 && flags.dir === undefined && !flags.list) this.usage('give URL(s), "-" or --file for a list, or --dir PREFIX')
    // Everything is checked before anything changes, and a bad entry is named by its line (or argument).
    const bad = urls.findIndex((u) => !plausibleTarget(u, flags.host))
    if (bad >= 0) {
      const u = urls[bad]!
      this.fail(`${where(bad)}: not an absolute http(s) URL: ${JSON.stringify(u)}${u.startsWith('/') ? ' (give --host, or a full URL)' : ''}; nothing was purged`, 'TAVERN_ERR_BAD_URL')
    }
    const admin = await this.adminTransport(flags)
    const mode = flags.expire ? 'expire' : 'delete'
    const progress = new ProgressLine(!this.jsonEnabled() && process.stderr.isTTY === true && urls.length > BATCH_URLS)
    let reply: PurgeReply | undefined
    // The directory goes with the first request; every request is answered before the next is sent.
    for (let start = 0; start === 0 || start < urls.length; start += BATCH_URLS) {
      const batch = urls.slice(start, start + BATCH_URLS)
      const body = {urls: batch.length ? batch : undefined, dir: start === 0 ? flags.dir : undefined, host: flags.host, mode, ...(start === 0 && flags.rewarm ? {rewarm: true} : {}), ...(flags.cluster ? {cluster: true} : {})}
      const r = await admin.request<PurgeReply>('POST', '/purge', body, 600_000)
      if (r.status !== 200) {
        progress.clear()
        if (reply) process.stderr.write(`tavern: the first ${start} URLs were purged before this failure\n`)
        this.adminFailure(r.status, r.body)
      }
      if (!reply) reply = r.body
      else {
        reply.matched += r.body.matched
        reply.purged += r.body.purged
        reply.expired = (reply.expired ?? 0) + (r.body.expired ?? 0)
        reply.bytesFreed += r.body.bytesFreed
        for (const x of r.body.results) reply.results.push(x)
        if (r.body.rewarm) reply.rewarm = r.body.rewarm
        if (r.body.cluster && reply.cluster) reply.cluster.nodes = mergeNodes(reply.cluster.nodes, r.body.cluster.nodes)
      }
      progress.update(`purge ${Math.min(start + BATCH_URLS, urls.length)}/${urls.length}`, true)
    }
    progress.clear()
    if (!reply) this.fail('nothing was purged', 'TAVERN_ERR_DAEMON')
    if (flags.cluster) return this.clusterReport(reply)
    const unmatched = reply.results.filter((x) => x.matched === 0)
    const strictFail = flags.strict && unmatched.length > 0
    if (this.jsonEnabled()) {
      if (strictFail) process.exitCode = EXIT.failed
      return reply
    }
    const verb = reply.mode === 'expire' ? 'marked expired' : 'deleted'
    for (const x of reply.results.slice(0, SHOWN)) {
      const label = x.dir ? `${x.key}*` : x.url
      if (x.matched > 0) this.log(`  ${label}  ${plural(x.matched, 'object')} ${verb}${reply.mode === 'delete' ? `, ${formatBytes(x.bytesFreed)}` : ''}`)
      else {
        // Say which key was looked up (it holds the Host and port clients use) and what is stored close to it.
        this.log(`  ${label}  not cached (looked up key ${x.dir ? `prefix ${x.key}` : x.key})`)
        for (const k of x.suggestions ?? []) this.log(`      did you mean ${k}?`)
      }
    }
    if (reply.results.length > SHOWN) this.log(`  … ${reply.results.length - SHOWN} more (use --json for all)`)
    const summary =
      reply.mode === 'expire'
        ? `purge (expire): ${reply.matched} matched, ${reply.purged} marked expired; the next request for each revalidates`
        : `purge: ${reply.matched} matched, ${reply.purged} deleted, ${formatBytes(reply.bytesFreed)} freed`
    this.log(unmatched.length ? `${summary} (${unmatched.length} not cached)` : summary)
    if (reply.rewarm) this.log(`rewarm: re-fetching ${plural(reply.rewarm.keys, 'hot key')} in the background`)
    if (strictFail) this.fail(`--strict: ${plural(unmatched.length, 'target')} matched nothing`, 'TAVERN_ERR_NOT_CACHED')
    return reply
  }

  /** `--cluster`: one line per node, a summary, and exit 1 naming the nodes that failed. */
  private clusterReport(reply: PurgeReply): PurgeReply {
    const nodes = reply.cluster?.nodes
    if (!nodes) this.fail('the daemon did not answer per node (is it older than purge --cluster?)', 'TAVERN_ERR_DAEMON')
    const failed = nodes.filter((n) => !n.ok)
    const failure = failed.length > 0 ? `${plural(failed.length, 'node')} failed: ${failed.map((n) => `${n.node} (${n.error ?? 'failed'})`).join(', ')}` : undefined
    if (this.jsonEnabled()) {
      if (failure) {
        process.stderr.write(`tavern: purge --cluster: ${failure}\n`)
        process.exitCode = EXIT.failed
      }
      return reply
    }
    const expire = reply.mode === 'expire'
    const rows = [['node', 'matched', expire ? 'expired' : 'deleted', ...(expire ? [] : ['freed']), 'result']]
    for (const n of nodes) {
      const label = n.self ? `${n.node} (this node)` : n.node
      const counts = n.ok || n.failed < (reply.results.length || 1) ? [String(n.matched), String(n.purged), ...(expire ? [] : [formatBytes(n.bytesFreed)])] : ['—', '—', ...(expire ? [] : ['—'])]
      rows.push([label, ...counts, n.ok ? 'ok' : `failed${n.failed > 1 ? ` (${n.failed} targets)` : ''}: ${n.error ?? '?'}`])
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
    const numeric = (i: number) => i > 0 && i < rows[0]!.length - 1
    for (const r of rows) this.log(`  ${r.map((c, i) => (i === r.length - 1 ? c : numeric(i) ? padLeft(c, widths[i]!) : padRight(c, widths[i]!))).join('  ')}`)
    const total = nodes.reduce((t, n) => ({matched: t.matched + n.matched, purged: t.purged + n.purged, bytes: t.bytes + n.bytesFreed}), {matched: 0, purged: 0, bytes: 0})
    const summary = `purge --cluster: ${plural(nodes.length, 'node')}, ${total.matched} matched, ${expire ? `${total.purged} marked expired` : `${total.purged} deleted, ${formatBytes(total.bytes)} freed`}`
    this.log(failure ? `${summary}; ${failed.length} failed` : summary)
    if (failure) this.fail(`purge --cluster: ${failure}`, 'TAVERN_ERR_PEER_PURGE_FAILED')
    return reply
  }

  /** `--list`: the daemon's recent purges, newest first. */
  private async list(admin: AdminTransport): Promise<PurgeListReply> {
    const r = await admin.request<PurgeListReply>('GET', '/purges')
    if (r.status !== 200) this.adminFailure(r.status, r.body)
    const l = r.body
    if (this.jsonEnabled()) return l
    if (l.purges.length === 0) {
      this.log('no purges since the daemon started')
      return l
    }
    for (const p of l.purges) {
      const what = p.mode === 'expire' ? `${p.purged} marked expired` : `${p.purged} deleted, ${formatBytes(p.bytesFreed)} freed`
      const from = p.source === 'PURGE' ? `PURGE from ${p.peer ?? '?'}` : 'admin'
      this.log(`${new Date(p.at).toISOString()}  ${from}  ${p.mode}  ${p.scope} ${p.target}  matched ${p.matched}, ${what}`)
    }
    if (l.recorded > l.purges.length) this.log(`(${l.recorded} purges since start; the last ${l.purges.length} are kept)`)
    return l
  }
}

/** Per-node results of several batches of one purge, summed by node. */
function mergeNodes(a: readonly PurgeNodeResult[], b: readonly PurgeNodeResult[]): PurgeNodeResult[] {
  const byNode = new Map(a.map((n) => [n.node, {...n}]))
  for (const n of b) {
    const m = byNode.get(n.node)
    if (!m) {
      byNode.set(n.node, {...n})
      continue
    }
    m.matched += n.matched
    m.purged += n.purged
    m.expired += n.expired
    m.bytesFreed += n.bytesFreed
    m.failed += n.failed
    m.ok &&= n.ok
    m.error ??= n.error
  }
  return [...byNode.values()]
}
