import {Flags} from '@oclif/core'

import {AdminCommand, clientFlags} from '../cli/base.js'
import type {ClusterStatus, ClusterStatusBody, SiteInfo, StatusBody} from '../admin/protocol.js'
import {formatBytes, formatUptime} from '../util/format.js'
import {upstreamStateWords} from '../tui/upstream-state.js'

/** `site NAME  hosts…` then one line per route: prefix, group, the policy keys it sets. Nothing without sites. */
function siteLines(sites: SiteInfo[] | undefined): string[] {
  if (!sites || (sites.length === 1 && sites[0]!.site === null)) return []
  return sites.flatMap((site) => [
    `site       ${site.site ?? '(implicit)'}${site.default ? ' (default)' : ''}  ${site.hosts.join(' ') || '(hosts no other site claims)'}`,
    ...site.routes.map((r) => {
      const policy = Object.entries(r.policy).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')
      return `  route    ${(r.route ?? '-').padEnd(12)} ${r.prefix.padEnd(16)} group ${r.group}${policy ? '  ' + policy : ''}`
    }),
  ])
}

function upstreamLine(group: string, u: StatusBody['upstreams'][number]): string {
  const state = upstreamStateWords(u, {breaker: false})
  return `upstream   ${group}${u.name} ${u.url}  ${u.healthy ? 'healthy' : 'DOWN'}  in-flight ${u.inFlight}${u.breaker ? `  breaker ${u.breaker.state}` : ''}${state ? `  (${state})` : ''}`
}

/** The ring as this node sees it: one line per peer (share of the ring's keys, of the live ones, health, traffic). */
export function clusterLines(c: ClusterStatus): string[] {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(6)
  return [
    `cluster    self ${c.self}  ${c.peers.length} peers  vnodes ${c.vnodes}  membership ${c.membership}  hop header ${c.hopHeader}  trust ${c.trust.join(' ') || '-'}`,
    `           ${'peer'.padEnd(32)} weight  share   live  health  out        in`,
    ...c.peers.map((p) => {
      const health = p.self ? 'self' : p.up ? 'up' : p.passiveDown ? 'DOWN (forward failed)' : 'DOWN'
      const err = !p.up && p.lastError ? `  (${p.lastError})` : ''
      return `           ${p.id.padEnd(32)} ${String(p.weight).padStart(6)} ${pct(p.share)} ${pct(p.liveShare)}  ${health.padEnd(6)}  ${String(p.requestsOut).padEnd(10)} ${p.requestsIn}${err}`
    }),
    `           ${c.fallbacks} request(s) for other peers' keys went to the origin from here (no peer could take them)`,
  ]
}

export default class Status extends AdminCommand {
  static override description = 'Show the running daemon: version, pid, uptime, listeners, upstreams, sites and routes, storage and counters; with --cluster, the ring and its peers'
  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status --json --socket /run/tavern/tavern.sock',
    '<%= config.bin %> status -c /etc/tavern/tavern.config.yaml',
    '<%= config.bin %> status --cluster',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...clientFlags,
    cluster: Flags.boolean({description: "the cluster instead: this node, every peer's weight, share of the keys (on the ring, and live), health as this node sees it, requests forwarded each way"}),
  }

  async run(): Promise<StatusBody | ClusterStatusBody> {
    const {flags} = await this.parse(Status)
    if (flags.cluster) return this.cluster(flags)
    const r = await (await this.adminTransport(flags)).request<StatusBody>('GET', '/status')
    if (r.status !== 200) this.fail(`daemon answered ${r.status}: ${JSON.stringify(r.body)}`, 'TAVERN_ERR_DAEMON')
    const s = r.body
    if (!this.jsonEnabled()) {
      const c = s.connections as StatusBody['connections'] | undefined
      const hitRatio = s.counters.hits + s.counters.misses > 0 ? ((100 * s.counters.hits) / (s.counters.hits + s.counters.misses)).toFixed(1) + '%' : '-'
      this.log(
        [
          `tavern ${s.version}  pid ${s.pid}  up ${formatUptime(s.uptimeSeconds)}`,
          ...(s.dataPlane ? s.dataPlane.listeners.map((l) => `listen     ${l.scheme}://${l.address}${l.http2 ? (l.scheme === 'https' ? '  h2 + http/1.1' : '  h2c + http/1.1') : ''}`) : [`listen     http://${s.listeners.http}`]),
          `admin      ${s.listeners.admin}${s.dataPlane?.adminTcp ? `  tcp ${s.dataPlane.adminTcp} (bearer token)` : ''}`,
          ...(s.dataPlane?.certificates ?? []).map((c) => `cert       ${c.names.join(', ') || '(no names)'}  ${c.listener ?? ''}  expires ${c.notAfter} (${formatUptime(Math.max(0, c.secondsLeft))}${c.secondsLeft < 0 ? ', EXPIRED' : c.expiringSoon ? ', SOON' : ''})  ${c.certFile}`),
          // (absent from a daemon older than this client)
          ...(s.listeners.metrics !== undefined ? [`metrics    ${s.listeners.metrics ? `http://${s.listeners.metrics}/metrics` : 'off'}`] : []),
          `config     ${s.config.source}`,
          `storage    ${s.storage.dir}  ${s.storage.objects} objects, ${formatBytes(s.storage.diskBytes)} on disk, ${formatBytes(s.storage.memoryBytes)} in memory`,
          ...s.upstreams.map((u) => upstreamLine('', u)),
          ...(s.groups ?? []).flatMap((g) => g.upstreams.map((u) => upstreamLine(`[${g.name}] `, u))),
          ...siteLines(s.sites),
          // (absent from a daemon older than this client)
          ...(c ? [`clients    ${c.open} connections open (limit ${c.max}${c.derived ? `, from the open-file limit ${c.fdLimit}` : ''}), ${c.rejected} refused, ${c.evicted} idle ones closed for new ones`] : []),
          `requests   ${s.counters.requests} (in flight ${s.counters.inFlight})  hits ${s.counters.hits}  misses ${s.counters.misses}  hit ratio ${hitRatio}  origin requests ${s.counters.originRequests}  sent ${formatBytes(s.counters.bytesOut)}`,
        ].join('\n'),
      )
    }
    return s
  }

  private async cluster(flags: Parameters<AdminCommand['adminTransport']>[0]): Promise<ClusterStatusBody> {
    const r = await (await this.adminTransport(flags)).request<ClusterStatusBody>('GET', '/status/cluster')
    if (r.status !== 200) this.fail(`daemon answered ${r.status}: ${JSON.stringify(r.body)}`, 'TAVERN_ERR_DAEMON')
    if (!this.jsonEnabled()) this.log(r.body.cluster ? clusterLines(r.body.cluster).join('\n') : 'cluster    none (no cluster section in the config)')
    return r.body
  }
}
