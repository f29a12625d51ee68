import {randomBytes} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {rename, unlink} from 'node:fs/promises'
import path from 'node:path'
import {Writable} from 'node:stream'

import {Args, Flags} from '@oclif/core'

import {AdminCommand, clientFlags} from '../cli/base.js'
import {EXIT} from '../client/admin-client.js'
import {adminDownload} from '../client/admin-download.js'
import {formatCpuProfileSummary} from '../ops/cpuprofile-summary.js'
import {PROFILE_LIMITS} from '../ops/profile.js'
import {exitCodeOf, isErrorCode} from '../core/errors.js'
import type {ProfileTopReply} from '../ops/profile-routes.js'

type Kind = 'cpu' | 'heap' | 'top'

export interface ProfileFileResult {
  kind: 'cpu' | 'heap'
  /** Where it was written (`-` for stdout). */
  file: string
  bytes: number
  /** Profiled time of a CPU profile, s. */
  seconds?: number
  intervalUs?: number
}

const HEAP_TIMEOUT_MS = 10 * 60_000

/** Parsed here, checked in run(): oclif reports an error thrown from a custom parser as a failure, not a usage error. */
const seconds = Flags.custom<number>({parse: async (input) => (input.trim() === '' ? Number.NaN : Number(input))})

export default class Profile extends AdminCommand {
  static override description = `Profile the running daemon over its admin socket, without restarting it.
  cpu   sample the CPU for --seconds (default 10, at most 120) and write a .cpuprofile (Chrome DevTools: Performance → Load profile)
  heap  write a heap snapshot (.heapsnapshot; Chrome DevTools: Memory → Load). The daemon pauses while it is taken
  top   sample the CPU for --seconds and print the functions with the most self time, with file:line
One profile at a time: while one runs, another is refused (exit 1, TAVERN_ERR_PROFILE_BUSY).
Exit codes: 0 done, 1 refused or failed, 2 usage error, 3 daemon unreachable.`
  static override examples = [
    '<%= config.bin %> profile cpu --seconds 10 -o out.cpuprofile',
    '<%= config.bin %> profile heap -o out.heapsnapshot',
    '<%= config.bin %> profile top --seconds 5 --top 30',
    '<%= config.bin %> profile top --json | jq .functions[0]',
  ]
  static override enableJsonFlag = true
  static override args = {
    kind: Args.string({description: 'what to take', options: ['cpu', 'heap', 'top'], required: true}),
  }
  static override flags = {
    ...clientFlags,
    seconds: seconds({description: `how long to sample the CPU (cpu, top), ${PROFILE_LIMITS.minSeconds}–${PROFILE_LIMITS.maxSeconds} s [default: ${PROFILE_LIMITS.defaultSeconds}]`}),
    output: Flags.string({char: 'o', description: 'file to write (cpu, heap); `-` for stdout [default: tavern-<pid>-<time>.cpuprofile / .heapsnapshot in the working directory]'}),
    top: Flags.integer({description: 'rows per list (top)', min: 1, max: 500, default: 25}),
    'interval-us': Flags.integer({description: `sampling interval in µs (cpu, top) [default: ${PROFILE_LIMITS.defaultIntervalUs}]`, min: PROFILE_LIMITS.minIntervalUs, max: PROFILE_LIMITS.maxIntervalUs}),
  }

  async run(): Promise<ProfileFileResult | ProfileTopReply> {
    const {args, flags} = await this.parse(Profile)
    const kind = args.kind as Kind
    if (kind === 'heap' && (flags.seconds !== undefined || flags['interval-us'] !== undefined)) this.fail('--seconds and --interval-us are for cpu and top; a heap snapshot is taken at once', 'TAVERN_ERR_USAGE')
    if (kind === 'top' && flags.output !== undefined) this.fail('top prints its summary; use `profile cpu -o FILE` to keep the profile', 'TAVERN_ERR_USAGE')
    if (flags.output === '-' && this.jsonEnabled()) this.fail('--json prints a JSON result on stdout, so the profile cannot go there too (-o -)', 'TAVERN_ERR_USAGE')
    const secs = flags.seconds ?? PROFILE_LIMITS.defaultSeconds
    if (!Number.isFinite(secs) || secs < PROFILE_LIMITS.minSeconds || secs > PROFILE_LIMITS.maxSeconds) {
      this.fail(`--seconds must be a number from ${PROFILE_LIMITS.minSeconds} to ${PROFILE_LIMITS.maxSeconds}${Number.isNaN(secs) ? '' : `, not ${secs}`}`, 'TAVERN_ERR_USAGE')
    }
    const admin = await this.adminTransport(flags)
    const body = kind === 'heap' ? {} : {seconds: secs, ...(flags['interval-us'] === undefined ? {} : {intervalUs: flags['interval-us']})}
    const tty = process.stderr.isTTY === true && !this.jsonEnabled()
    if (tty) process.stderr.write(kind === 'heap' ? 'taking a heap snapshot (the daemon pauses meanwhile)…\n' : `sampling the daemon's CPU for ${secs} s…\n`)

    if (kind === 'top') {
      const r = await admin.request<ProfileTopReply>('POST', '/profile/top', {...body, top: flags.top}, secs * 1000 + 30_000)
      if (r.status !== 200) return this.refused(r.status, r.body)
      if (!this.jsonEnabled()) this.log(formatCpuProfileSummary(r.body, {title: `pid ${r.body.pid}, ${r.body.seconds.toFixed(1)} s at ${r.body.intervalUs} µs`}))
      return r.body
    }

    const ext = kind === 'cpu' ? 'cpuprofile' : 'heapsnapshot'
    const toStdout = flags.output === '-'
    let target = flags.output
    let partial: string | undefined
    const open = (headers: Record<string, string | string[] | undefined>): Writable => {
      if (toStdout) {
        // Never end process.stdout itself: a wrapper that forwards the bytes.
        return new Writable({write: (chunk: Buffer, _enc, cb) => void process.stdout.write(chunk, cb)})
      }
      target ??= suggestedName(headers['content-disposition'], ext)
      partial = `${target}.partial-${randomBytes(4).toString('hex')}`
      // Private: a heap snapshot holds every string in the daemon's memory; a profile names its files and URLs.
      return createWriteStream(partial, {flags: 'wx', mode: 0o600})
    }
    let reply
    try {
      reply = await adminDownload(admin.download, `/profile/${kind}`, body, open, kind === 'cpu' ? secs * 1000 + 30_000 : HEAP_TIMEOUT_MS)
      if (reply.ok && partial && target) await rename(partial, target)
    } catch (error) {
      if (partial) await unlink(partial).catch(() => {})
      throw error
    }
    if (!reply.ok) return this.refused(reply.status, reply.body)
    const result: ProfileFileResult = {kind, file: toStdout ? '-' : path.resolve(target!), bytes: reply.bytes}
    if (kind === 'cpu') {
      result.seconds = Number(reply.headers['x-tavern-profile-seconds'])
      result.intervalUs = Number(reply.headers['x-tavern-profile-interval-us'])
    }
    if (!this.jsonEnabled() && !toStdout) {
      const size = `${(reply.bytes / (1024 * 1024)).toFixed(1)} MiB`
      this.log(
        kind === 'cpu'
          ? `wrote ${target} (${size}, ${result.seconds?.toFixed(1)} s of samples every ${result.intervalUs} µs): open it in Chrome DevTools (Performance → Load profile) or summarise it with \`node bench/cpuprofile-summary.mjs\``
          : `wrote ${target} (${size}): open it in Chrome DevTools (Memory → Load)`,
      )
    }
    return result
  }

  /** A refusal or failure from the daemon: the message (and catalogue code) for people, or the JSON error. */
  private refused(status: number, body: unknown): never {
    const e = (body as {error?: {code?: string; message?: string}} | null)?.error
    const code = e?.code ?? `http_${status}`
    let message = e?.message ?? `daemon answered ${status}: ${JSON.stringify(body)}`
    if (status === 404) message = `this daemon has no profiling endpoints (${message}); it is older than this tavern command`
    // A 404 is an older daemon without the endpoint: a failure, not the caller's mistake.
    const exit = status === 404 ? EXIT.failed : isErrorCode(code) ? exitCodeOf(code) : status === 400 || status === 422 ? EXIT.usage : EXIT.failed
    if (this.jsonEnabled()) {
      process.stdout.write(`${JSON.stringify({error: {code, message}})}\n`)
      this.exit(exit)
    }
    this.fail(`${message} (${code})`, code, exit)
  }
}

/** The daemon's suggested file name (Content-Disposition), reduced to a safe base name in the working directory. */
function suggestedName(disposition: string | string[] | undefined, ext: string): string {
  const v = Array.isArray(disposition) ? disposition[0] : disposition
  const m = v ? /filename="([^"]+)"/.exec(v) : null
  const base = m ? path.basename(m[1]!).replace(/[^A-Za-z0-9._-]/g, '_') : ''
  return base && base.endsWith(`.${ext}`) ? base : `tavern-profile.${ext}`
}
