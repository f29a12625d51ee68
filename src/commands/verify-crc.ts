import {Args, Flags} from '@oclif/core'

import {clientFlags} from '../cli/base.js'
import {formatBytes} from '../util/format.js'
import {EXIT} from '../client/admin-client.js'
import {collectUrls, OpsCommand, plural, ProgressLine} from '../cli/ops.js'
import type {VerifyLine, VerifyMismatch, VerifySummary} from '../admin/protocol.js'

export interface VerifyReport {
  mismatches: VerifyMismatch[]
  summary: VerifySummary
}

export default class VerifyCrc extends OpsCommand {
  static override description = `Re-read stored bodies and compare them with the CRC32C recorded when they were stored.
Runs throttled inside the daemon (it yields between objects; --rate caps the read rate) so serving is not disturbed.
Lists every mismatch; --purge-bad deletes corrupt objects so the next request refetches them.
Exit codes: 0 all good (or every mismatch purged), 1 a mismatch remains (or failure), 2 usage error, 3 daemon unreachable.`
  static override examples = [
    '<%= config.bin %> verify-crc --all',
    '<%= config.bin %> verify-crc --dir /static/ --host example.com --purge-bad',
    '<%= config.bin %> verify-crc http://example.com/big.iso --rate 50 --json',
  ]
  static override strict = false
  static override enableJsonFlag = true
  static override args = {url: Args.string({description: 'URL(s) to verify (all their variants); "-" reads a list from stdin'})}
  static override flags = {
    ...clientFlags,
    file: Flags.string({char: 'f', description: 'read URLs from a file, one per line ("-" = stdin)'}),
    dir: Flags.string({description: 'verify everything under this prefix: a full URL or a path with --host'}),
    host: Flags.string({description: 'host[:port] for --dir PATH and for path arguments'}),
    all: Flags.boolean({description: 'verify every stored object'}),
    rate: Flags.string({description: 'read at most this many MB/s (10^6 bytes per second); default: unthrottled apart from yielding'}),
    'purge-bad': Flags.boolean({description: 'delete objects whose body does not match, so they are refetched'}),
  }

  async run(): Promise<VerifyReport> {
    const {flags, argv} = await this.parse(VerifyCrc)
    let urls: string[]
    try {
      urls = await collectUrls(argv as string[], flags.file)
    } catch (error) {
      this.usage(`cannot read the URL list: ${(error as Error).message}`)
    }
    if (!flags.all && urls.length === 0 && flags.dir === undefined) this.usage('give URL(s), --dir PREFIX or --all')
    let rateBytesPerSec: number | undefined
    if (flags.rate !== undefined) {
      const mb = Number(flags.rate)
      if (!Number.isFinite(mb) || mb <= 0) this.usage(`--rate expects a positive number of MB/s, got ${JSON.stringify(flags.rate)}`)
      rateBytesPerSec = mb * 1e6
    }

    const json = this.jsonEnabled()
    const progress = new ProgressLine(!json && process.stderr.isTTY === true)
    const mismatches: VerifyMismatch[] = []
    let summary: VerifySummary | undefined
    let failure: unknown
    const body = {urls: urls.length ? urls : undefined, dir: flags.dir, host: flags.host, all: flags.all, purgeBad: flags['purge-bad'], rateBytesPerSec}
    const stream = (await this.adminTransport(flags)).stream('POST', '/verify', body, (v) => {
      const line = v as VerifyLine | {type?: undefined} | {type: 'error'}
      if (line.type === 'progress') progress.update(`verify-crc ${line.checked} objects  ${formatBytes(line.bytes)}  ${line.mismatches} mismatches`)
      else if (line.type === 'mismatch') {
        mismatches.push(line)
        if (!json) {
          progress.clear()
          const what = line.missing ? 'body file missing or empty' : `expected crc32c ${line.expectedCrc32c} (${line.expectedSize} bytes), found ${line.actualCrc32c} (${line.actualSize} bytes)`
          this.log(`MISMATCH ${line.url}${line.variant ? ` [${line.variant}]` : ''}: ${what}; ${line.bodyPath}${line.purged ? ' — purged' : ''}`)
        }
      } else if (line.type === 'summary') summary = line
      else if (line.type !== 'start') failure = line
    })
    const status = await stream.done
    progress.clear()
    if (status !== 200) this.adminFailure(status, failure)
    if (!summary) return failure ? this.adminFailure(500, failure) : this.fail('the daemon ended the verify stream without a summary', 'TAVERN_ERR_DAEMON')
    const remaining = summary.mismatches - summary.purged
    if (remaining > 0) process.exitCode = EXIT.failed
    if (!json) {
      const parts = [`verified ${plural(summary.checked, 'object')} (${formatBytes(summary.bytes)}) in ${(summary.durationMs / 1000).toFixed(1)}s: ${summary.ok} ok, ${plural(summary.mismatches, 'mismatch', 'mismatches')}`]
      if (summary.purged) parts.push(`${summary.purged} purged`)
      if (summary.skipped) parts.push(`${summary.skipped} changed while checking (skipped)`)
      this.log(parts.join(', '))
    }
    return {mismatches, summary}
  }
}
