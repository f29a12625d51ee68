// An example third-party plugin: a path deny-list with address exceptions, and response headers from its options.
//
//   plugins:
//     - module: ./plugins/deny-list.mjs        # relative to the config file
//       options:
//         deny:
//           - paths: [/admin/, /.git/]
//             allowFrom: [10.0.0.0/8]          # these clients may pass
//           - paths: [/internal/]
//             methods: [POST, PUT, DELETE]
//             status: 404
//         responseHeaders:
//           X-Frame-Options: DENY
//
// A denied request is answered in onRequest (a short-circuit: no lookup, no origin call) with a small text body and
// Cache-Control: no-store; every other answer (hits, misses, errors) gets `responseHeaders` in onSend. The client
// address is ctx.clientIp: the peer's, or from X-Forwarded-For when the peer is in server.trustedProxies.
import net from 'node:net'

import {definePlugin, z} from 'tavern/plugin'

const cidr = z.string().refine((v) => {
  const [ip, bits] = v.split('/')
  const fam = net.isIP(ip ?? '')
  return fam !== 0 && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (fam === 4 ? 32 : 128)))
}, 'expected an IP address or CIDR')

const Rule = z.strictObject({
  paths: z.array(z.string().startsWith('/', 'a path prefix starts with /')).min(1),
  methods: z.array(z.string().regex(/^[A-Z]+$/, 'expected an upper-case method')).optional(),
  allowFrom: z.array(cidr).default([]),
  status: z.union([z.literal(403), z.literal(404)]).default(403),
  message: z.string().max(512).optional(),
})

const Options = z.strictObject({
  deny: z.array(Rule).min(1),
  responseHeaders: z.record(z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a header field name'), z.string().regex(/^[^\r\n\0]*$/, 'no CR, LF or NUL')).default({}),
})

function blockList(cidrs) {
  const list = new net.BlockList()
  for (const c of cidrs) {
    const [ip, bits] = c.split('/')
    const type = net.isIP(ip) === 6 ? 'ipv6' : 'ipv4'
    if (bits === undefined) list.addAddress(ip, type)
    else list.addSubnet(ip, Number(bits), type)
  }
  return list
}

function allowed(list, ip) {
  if (ip === undefined) return false
  const v4 = ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip
  return list.check(v4, net.isIPv6(v4) ? 'ipv6' : 'ipv4')
}

export default definePlugin({
  name: 'deny-list',
  optionsSchema: Options,
  setup(options, api) {
    const rules = options.deny.map((r) => ({...r, methods: r.methods && new Set(r.methods), allow: blockList(r.allowFrom)}))
    const extra = Object.entries(options.responseHeaders).flat()
    let denied = 0
    const hooks = {
      onRequest(ctx) {
        for (const r of rules) {
          if (r.methods && !r.methods.has(ctx.method)) continue
          if (!r.paths.some((p) => ctx.path.startsWith(p))) continue
          if (allowed(r.allow, ctx.clientIp ?? ctx.client)) continue
          denied++
          api.log.debug({reqId: ctx.id, path: ctx.path, client: ctx.clientIp}, 'denied')
          return {status: r.status, headers: {'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store'}, body: `${r.message ?? (r.status === 404 ? 'Not Found' : 'Forbidden')}\n`}
        }
        return undefined
      },
    }
    if (extra.length > 0) {
      hooks.onSend = (_ctx, head) => {
        head.headers = head.headers.concat(extra)
      }
    }
    return {hooks, close: () => api.log.info({denied}, 'deny-list closed')}
  },
})
