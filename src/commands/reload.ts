import {AdminCommand, clientFlags} from '../cli/base.js'
import {adminRequest, EXIT} from '../client/admin-client.js'

interface ReloadReply {
  applied?: boolean
  source?: string
  restartRequired?: string[]
  error?: {code: string; message: string}
}

export default class Reload extends AdminCommand {
  static override description = `Re-read and validate the daemon's config and apply it (same as SIGHUP).
On an invalid config the daemon keeps running with its current config and this command prints the problems and exits 1.`
  static override enableJsonFlag = true
  static override flags = {...clientFlags}

  async run(): Promise<ReloadReply> {
    const {flags} = await this.parse(Reload)
    const r = await adminRequest<ReloadReply>(await this.adminSocket(flags), 'POST', '/reload')
    if (this.jsonEnabled()) {
      if (r.status !== 200) process.exitCode = EXIT.failed
      return r.body
    }
    if (r.status !== 200) this.fail(`reload refused, the daemon keeps its running config:\n${r.body.error?.message ?? JSON.stringify(r.body)}`)
    this.log(`reloaded config from ${r.body.source ?? 'embedded defaults'}`)
    if (r.body.restartRequired?.length) this.log(`changes to ${r.body.restartRequired.join(', ')} take effect only after a restart`)
    return r.body
  }
}
