import {AdminCommand, clientFlags} from '../cli/base.js'
import type {ErrorBody, ReloadReply} from '../admin/protocol.js'
import {EXIT} from '../client/admin-client.js'

export default class Reload extends AdminCommand {
  static override description = `Re-read and validate the daemon's config and apply it (same as SIGHUP).
On an invalid config the daemon keeps running with its current config and this command prints the problems and exits 1.`
  static override enableJsonFlag = true
  static override flags = {...clientFlags}

  async run(): Promise<ReloadReply | ErrorBody> {
    const {flags} = await this.parse(Reload)
    const r = await (await this.adminTransport(flags)).request<Partial<ReloadReply> & Partial<ErrorBody>>('POST', '/reload')
    if (this.jsonEnabled()) {
      if (r.status !== 200) process.exitCode = EXIT.failed
      return r.body as ReloadReply | ErrorBody
    }
    if (r.status !== 200) this.fail(`reload refused, the daemon keeps its running config:\n${r.body.error?.message ?? JSON.stringify(r.body)}`, r.body.error?.code ?? 'TAVERN_ERR_RELOAD_REFUSED', EXIT.failed)
    this.log(`reloaded config from ${r.body.source ?? 'embedded defaults'}`)
    if (r.body.restartRequired?.length) this.log(`changes to ${r.body.restartRequired.join(', ')} take effect only after a restart`)
    return r.body as ReloadReply
  }
}
