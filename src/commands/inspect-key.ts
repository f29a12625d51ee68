import {Args, Flags} from '@oclif/core'

import {clientFlags} from '../cli/base.js'
import {EXIT} from '../client/admin-client.js'
import {OpsCommand} from '../cli/ops.js'
import type {InspectReply} from '../admin/protocol.js'

function routeLine(r: InspectReply['route']): string {
  if (!r) return 'route      none: no site claims this host and there is no default site (clients get 421)'
  const policy = Object.entries(r.policy).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')
  return `route      site ${r.site ?? '(implicit)'}  route ${r.route ?? '(the site\'s own)'} ${r.prefix}  group ${r.group}  policy ${policy || '(the global cache section)'}`
}

export default class InspectKey extends OpsCommand {
  static override description = `Show what the cache holds for a URL: cache key, Vary variants, status, size, stored headers, Date/Age,
freshness lifetime and its source, time to expiry, stale state and why, validators, CRC32C, tier, hits, body file,
and the site and route whose cache policy decides about the URL.
With -H, also which variant those request headers select.
A URL that is not cached prints "not cached" and exits 0 (use --strict to exit 1).
Exit codes: 0 done, 1 not cached with --strict (or failure), 2 usage error, 3 daemon unreachable.`
  static override examples = [
    '<%= config.bin %> inspect-key http://example.com/app.js',
    "<%= config.bin %> inspect-key http://example.com/ -H 'Accept-Encoding: gzip' --json",
  ]
  static override enableJsonFlag = true
  static override args = {url: Args.string({description: 'absolute URL', required: true})}
  static override flags = {
    ...clientFlags,
    header: Flags.string({char: 'H', description: "request header 'Name: value' used to select a Vary variant (repeatable)", multiple: true, multipleNonGreedy: true}),
    strict: Flags.boolean({description: 'exit 1 when the URL is not cached'}),
  }

  async run(): Promise<InspectReply> {
    const {args, flags} = await this.parse(InspectKey)
    const q = new URLSearchParams({url: args.url})
    for (const h of flags.header ?? []) {
      if (h.indexOf(':') <= 0) this.usage(`-H expects "Name: value", got ${JSON.stringify(h)}`)
      q.append('h', h)
    }
    const r = await (await this.adminTransport(flags)).request<InspectReply>('GET', `/keys/inspect?${q}`)
    if (r.status !== 200) this.adminFailure(r.status, r.body)
    const x = r.body
    if (this.jsonEnabled()) {
      if (flags.strict && !x.stored) process.exitCode = EXIT.failed
      return x
    }
    const { formatInspect } = await import('../cli/inspect-format.js')
    this.log(formatInspect(x, Date.now()))
    // Which site and route decide about the URL (absent from a daemon older than this client).
    if (x.route !== undefined) this.log(routeLine(x.route))
    if (flags.strict && !x.stored) this.fail(`--strict: ${x.url} is not cached`, 'TAVERN_ERR_NOT_CACHED')
    return x
  }
}
