import {AdminCommand, clientFlags} from '../cli/base.js'
import type {SiteInfo, StatusBody} from '../admin/protocol.js'
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

export default class Status extends AdminCommand {
  static override description = 'Show the running daemon: version, pid, uptime, listeners, upstreams, sites and routes, storage and counters'
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json --socket /run/tavern/tavern.sock', '<%= config.bin %> status -c /etc/tavern/tavern.config.yaml']
  static override enableJsonFlag = true
  static override flags = {...clientFlags}

  async run(): Promise<StatusBody> {
    const {flags} = await this.parse(Status)
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
}
