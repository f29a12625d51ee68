import {AdminCommand, clientFlags} from '../cli/base.js'
import {adminRequest} from '../client/admin-client.js'
import type {StatusBody} from '../admin/protocol.js'
import {formatBytes, formatUptime} from '../util/format.js'

export default class Status extends AdminCommand {
  static override description = 'Show the running daemon: version, pid, uptime, listeners, upstreams, storage and counters'
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json --socket /run/tavern/tavern.sock', '<%= config.bin %> status -c /etc/tavern/tavern.config.yaml']
  static override enableJsonFlag = true
  static override flags = {...clientFlags}

  async run(): Promise<StatusBody> {
    const {flags} = await this.parse(Status)
    const r = await adminRequest<StatusBody>(await this.adminSocket(flags), 'GET', '/status')
    if (r.status !== 200) this.fail(`daemon answered ${r.status}: ${JSON.stringify(r.body)}`, 'TAVERN_ERR_DAEMON')
    const s = r.body
    if (!this.jsonEnabled()) {
      const c = s.connections as StatusBody['connections'] | undefined
      const hitRatio = s.counters.hits + s.counters.misses > 0 ? ((100 * s.counters.hits) / (s.counters.hits + s.counters.misses)).toFixed(1) + '%' : '-'
      this.log(
        [
          `tavern ${s.version}  pid ${s.pid}  up ${formatUptime(s.uptimeSeconds)}`,
          `listen     http://${s.listeners.http}`,
          `admin      ${s.listeners.admin}`,
          // (absent from a daemon older than this client)
          ...(s.listeners.metrics !== undefined ? [`metrics    ${s.listeners.metrics ? `http://${s.listeners.metrics}/metrics` : 'off'}`] : []),
          `config     ${s.config.source}`,
          `storage    ${s.storage.dir}  ${s.storage.objects} objects, ${formatBytes(s.storage.diskBytes)} on disk, ${formatBytes(s.storage.memoryBytes)} in memory`,
          ...s.upstreams.map((u) => `upstream   ${u.name} ${u.url}  ${u.healthy ? 'healthy' : 'DOWN'}  in-flight ${u.inFlight}`),
          // (absent from a daemon older than this client)
          ...(c ? [`clients    ${c.open} connections open (limit ${c.max}${c.derived ? `, from the open-file limit ${c.fdLimit}` : ''}), ${c.rejected} refused, ${c.evicted} idle ones closed for new ones`] : []),
          `requests   ${s.counters.requests} (in flight ${s.counters.inFlight})  hits ${s.counters.hits}  misses ${s.counters.misses}  hit ratio ${hitRatio}  origin requests ${s.counters.originRequests}  sent ${formatBytes(s.counters.bytesOut)}`,
        ].join('\n'),
      )
    }
    return s
  }
}
