import {Flags} from '@oclif/core'

import type {LogLine, LogRequestLine} from '../admin/protocol.js'
import {clientFlags} from '../cli/base.js'
import {OpsCommand} from '../cli/ops.js'
import {adminStream} from '../client/admin-client.js'
import {combinedLine} from '../util/clf.js'

/** A line for people: time, status, method, host+path, cache outcome, duration, upstream, and the Cache-Status why. */
function textLine(e: LogRequestLine): string {
  const time = new Date(e.time).toISOString().slice(11, 23)
  const up = e.upstream ? ` ${e.upstream}${e.upstreamMs !== undefined ? ` ${e.upstreamMs.toFixed(1)}ms` : ''}` : ''
  const why = e.cacheStatus ? `  ${e.cacheStatus}` : ''
  return `${time} ${e.status} ${e.method} ${e.host ?? '-'}${e.path} ${e.cache} ${e.bytes}B ${e.durationMs.toFixed(1)}ms${up}  ${e.reqId}${why}`
}

export default class Log extends OpsCommand {
  static override description = `Follow the daemon's requests live (like varnishlog/varnishncsa): one line per finished request, streamed over the
admin socket, with the cache decision and why (the Cache-Status sent), key, upstream and timings.
Filters run in the daemon and must all match: status>=500, status=5xx, host=example.com, cache=miss, method=POST,
path^=/static/ (prefix), key~=thumb (contains), client=…, upstream=… (operators: = != < <= > >= for status; = != ~ ^= otherwise).
A reader that falls behind loses lines rather than slowing the daemon; it is told how many ("dropped").
Exit codes: 0 ended (Ctrl-C, or --count reached), 1 failed, 2 usage error (a bad filter), 3 daemon unreachable.`
  static override examples = [
    '<%= config.bin %> log --follow',
    "<%= config.bin %> log --filter 'status>=500'",
    "<%= config.bin %> log --filter host=example.com --filter cache=miss --json",
    '<%= config.bin %> log --format combined >> live-access.log',
  ]
  static override flags = {
    ...clientFlags,
    follow: Flags.boolean({char: 'f', description: 'keep streaming new requests (the default; accepted for tail -f habits)', default: true, allowNo: false}),
    filter: Flags.string({description: 'only requests matching FIELD OP VALUE (repeat: all must match)', multiple: true}),
    format: Flags.string({description: 'text (for people), json (NDJSON, one object per request) or combined (Apache/nginx)', options: ['text', 'json', 'combined'], default: 'text'}),
    json: Flags.boolean({description: 'same as --format json'}),
    count: Flags.integer({char: 'n', description: 'stop after this many requests', min: 1}),
  }

  /** --json / --format json: errors are JSON lines too (this command streams, so oclif's --json is not used). */
  public override jsonEnabled(): boolean {
    const a = this.argv
    return a.includes('--json') || a.includes('--format=json') || a.some((x, i) => x === '--format' && a[i + 1] === 'json')
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Log)
    const format = flags.json ? 'json' : flags.format
    const socket = await this.adminSocket(flags)
    const query = (flags.filter ?? []).map((f) => `filter=${encodeURIComponent(f)}`).join('&')
    let seen = 0
    let failure: unknown
    let ended = false
    let endedNow: () => void = () => {}
    const endedByUs = new Promise<'ended'>((resolve) => (endedNow = () => resolve('ended')))
    const stream = adminStream(socket, 'GET', `/log/stream${query ? `?${query}` : ''}`, undefined, (v) => {
      const line = v as LogLine | {error?: unknown}
      if (!('type' in line)) {
        failure = line
        return
      }
      if (line.type === 'request') {
        if (ended) return
        if (format === 'json') process.stdout.write(JSON.stringify(line) + '\n')
        else if (format === 'combined') process.stdout.write(combinedLine({client: line.client, second: Math.floor(line.time / 1000), method: line.method, path: line.path, status: line.status, bytes: line.bytes, referer: line.referer, userAgent: line.userAgent}) + '\n')
        else process.stdout.write(textLine(line) + '\n')
        if (flags.count !== undefined && ++seen >= flags.count) {
          ended = true
          endedNow()
          stream.cancel()
        }
      } else if (line.type === 'dropped') {
        process.stderr.write(`tavern: this reader fell behind: ${line.count} requests not shown (${line.total} so far)\n`)
      } else if (line.type === 'start' && format === 'text' && process.stderr.isTTY) {
        process.stderr.write(`following requests${line.filters.length ? ` matching ${line.filters.join(' and ')}` : ''} (Ctrl-C to stop)\n`)
      }
    })
    // Cancelling may fail the request after we stopped waiting for it.
    stream.done.catch(() => {})
    const stop = () => {
      ended = true
      endedNow()
      stream.cancel()
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    let status: number | 'ended'
    try {
      status = await Promise.race([stream.done, endedByUs])
      if (status === 'ended') return
    } catch (error) {
      // Our own cancel (Ctrl-C, --count) ends the request: that is the normal end.
      if (ended) return
      throw error
    }
    if (status !== 200) this.adminFailure(status, failure)
    if (!ended) this.fail('the daemon ended the log stream (it is shutting down?)', 'TAVERN_ERR_DAEMON')
  }
}
