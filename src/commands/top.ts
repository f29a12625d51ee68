import {Flags} from '@oclif/core'

import {AdminCommand, clientFlags} from '../cli/base.js'
import type {TopSnapshot} from '../admin/protocol.js'

export default class Top extends AdminCommand {
  static override description = 'Live dashboard of the running daemon: request rates, hit ratios, latency, top keys, storage, upstreams and, in a cluster, peer traffic'
  static override examples = [
    '<%= config.bin %> top',
    '<%= config.bin %> top --interval 500',
    '<%= config.bin %> top --once',
    '<%= config.bin %> top --once --json | jq .rates',
  ]

  static override flags = {
    ...clientFlags,
    interval: Flags.integer({description: 'refresh interval in ms', default: 1000, min: 100}),
    once: Flags.boolean({description: 'print one snapshot as text and exit (the default without a terminal)', default: false}),
    json: Flags.boolean({description: 'print one snapshot as a JSON document and exit (implies --once)', default: false}),
  }

  async run(): Promise<TopSnapshot | undefined> {
    const {flags} = await this.parse(Top)
    const admin = await this.adminTransport(flags)
    // A poll must not hang the dashboard forever, but a busy daemon deserves more than one interval.
    const timeoutMs = Math.max(2000, flags.interval * 2)
    const fetchSnapshot = async (): Promise<TopSnapshot> => {
      const r = await admin.request<TopSnapshot>('GET', '/stats', undefined, timeoutMs)
      if (r.status !== 200) throw new Error(`daemon answered ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`)
      return r.body
    }

    // Without a terminal on both ends there is no dashboard to draw (and Ink's raw mode would throw): print once.
    const interactive = !flags.once && !flags.json && process.stdin.isTTY === true && process.stdout.isTTY === true
    if (!interactive) {
      let snap: TopSnapshot
      try {
        snap = await fetchSnapshot()
      } catch (error) {
        // DaemonUnreachableError goes to AdminCommand.catch: "no tavern daemon answers on <socket>", exit 3.
        if (error instanceof Error && error.message.startsWith('daemon answered')) this.fail(error.message, 'TAVERN_ERR_DAEMON')
        throw error
      }
      if (flags.json) {
        this.log(JSON.stringify(snap))
      } else {
        const {renderOnce} = await import('../tui/once.js')
        const width = process.stdout.isTTY ? process.stdout.columns : 100
        this.log(renderOnce(snap, {width}).trimEnd())
      }
      return snap
    }

    // Ink (yoga wasm, ~400 ms) and React load only here, so other commands and --help stay fast.
    // Ink draws only the final frame when it thinks it runs in CI (it reads $CI once, at import). Here a person is
    // at a terminal, so the dashboard must be live even if their environment sets CI.
    delete process.env.CI
    const [{render}, {createElement}, {TopView}] = await Promise.all([import('ink'), import('react'), import('../tui/top-view.js')])
    const app = render(createElement(TopView, {source: fetchSnapshot, intervalMs: flags.interval}), {exitOnCtrlC: true})
    await app.waitUntilExit()
    return undefined
  }
}
