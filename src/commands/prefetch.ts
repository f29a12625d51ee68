import {Args, Flags} from '@oclif/core'

import {clientFlags} from '../cli/base.js'
import {formatBytes} from '../util/format.js'
import {EXIT} from '../client/admin-client.js'
import {collectUrls, OpsCommand, parseHeaderFlags, plural, ProgressLine} from '../cli/ops.js'
import type {PrefetchLine, PrefetchResult, PrefetchSummary} from '../admin/protocol.js'

export interface PrefetchReport {
  results: PrefetchResult[]
  summary: PrefetchSummary
}

export default class Prefetch extends OpsCommand {
  static override description = `Warm the cache: the daemon fetches each URL through its own data plane, so collapsing and storage apply.
Each URL ends as stored, fresh (already cached and fresh), revalidated, or failed.
Progress is shown on a terminal (stderr); each failure is printed on stderr; a summary on stdout.
Exit codes: 0 all ok, 1 any URL failed, 2 usage error, 3 daemon unreachable.`
  static override examples = [
    '<%= config.bin %> prefetch http://example.com/ http://example.com/app.js',
    '<%= config.bin %> prefetch --hot 100',
    "<%= config.bin %> prefetch --file urls.txt -j 8 -H 'Accept-Encoding: gzip'",
    'sitemap-urls | <%= config.bin %> prefetch - --force --json',
  ]
  static override strict = false
  static override enableJsonFlag = true
  static override args = {url: Args.string({description: 'URL(s) to fetch; "-" reads a list from stdin'})}
  static override flags = {
    ...clientFlags,
    file: Flags.string({char: 'f', description: 'read URLs from a file, one per line ("-" = stdin; # comments)'}),
    concurrency: Flags.integer({char: 'j', description: 'parallel fetches (the daemon caps it at 32)', default: 4, min: 1}),
    header: Flags.string({char: 'H', description: "request header 'Name: value' (repeatable), e.g. to warm a Vary'd variant", multiple: true, multipleNonGreedy: true}),
    force: Flags.boolean({description: 'refetch even if fresh (sends Cache-Control: no-cache, so the daemon revalidates)'}),
    hot: Flags.integer({description: 'instead of URLs: re-fetch the N hottest keys (the hot set the daemon keeps)', min: 1, max: 100_000}),
  }

  async run(): Promise<PrefetchReport> {
    const {flags, argv} = await this.parse(Prefetch)
    let urls: string[]
    let headers: Record<string, string>
    try {
      urls = await collectUrls(argv as string[], flags.file)
      headers = parseHeaderFlags(flags.header)
    } catch (error) {
      this.usage((error as Error).message)
    }
    if (flags.hot !== undefined && urls.length > 0) this.usage('give URL(s) or --hot N, not both')
    if (urls.length === 0 && flags.hot === undefined) this.usage('give URL(s), "-" or --file for a list, or --hot N')

    const json = this.jsonEnabled()
    const progress = new ProgressLine(!json && process.stderr.isTTY === true)
    const results: PrefetchResult[] = []
    let summary: PrefetchSummary | undefined
    let failure: unknown
    const counts = {stored: 0, fresh: 0, revalidated: 0, failed: 0, bytes: 0}
    let total = urls.length
    const admin = await this.adminTransport(flags)
    const target = flags.hot !== undefined ? {hot: flags.hot} : {urls}
    const stream = admin.stream('POST', '/prefetch', {...target, headers, force: flags.force, concurrency: flags.concurrency}, (v) => {
      const line = v as PrefetchLine | {type?: undefined; error?: unknown} | {type: 'error'; error: unknown}
      if (line.type === 'start') total = line.total
      else if (line.type === 'result') {
        results.push(line)
        counts[line.outcome]++
        counts.bytes += line.bytes
        if (line.outcome === 'failed' && !json) progress.note(`failed  ${line.url}  ${line.status ? `(${line.status}) ` : ''}${line.error ?? ''}`)
        progress.update(`prefetch ${results.length}/${total}  stored ${counts.stored}  fresh ${counts.fresh}  revalidated ${counts.revalidated}  failed ${counts.failed}  ${formatBytes(counts.bytes)}`)
      } else if (line.type === 'summary') summary = line
      else failure = line
    })
    const status = await stream.done
    progress.clear()
    if (status !== 200) this.adminFailure(status, failure)
    if (!summary) return failure ? this.adminFailure(500, failure) : this.fail('the daemon ended the prefetch stream without a summary', 'TAVERN_ERR_DAEMON')
    if (summary.failed > 0) process.exitCode = EXIT.failed
    if (!json) {
      this.log(
        `prefetched ${plural(summary.total, 'URL')}: ${summary.stored} stored, ${summary.fresh} already fresh, ${summary.revalidated} revalidated, ${summary.failed} failed; ${formatBytes(summary.bytes)} transferred`,
      )
    }
    return {results, summary}
  }
}
