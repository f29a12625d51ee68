/**
 * Peer routing as a built-in plugin (`tavern:cluster`), for GET and HEAD only (unsafe methods go to the origin as
 * always; PURGE acts on this node):
 * - onRequest: a trusted peer's probe of the health path is answered here (204), never from the origin;
 * - onRoute (the key is known then): a request a trusted peer forwarded (hop header) is served here, whatever the
 *   ring says — one hop at most; any other request whose key another live peer owns goes to that peer
 *   (peer-forward.ts) past this node's cache, so each node stores only its share.
 * Admission already stripped the hop header from what goes upstream and decided whether to believe it (trust.ts).
 */
import type {Answer, HookContext, Route} from '../core/hooks.js'
import type {HookRegistration} from '../proxy/hooks.js'
import {getHeader} from '../util/raw-headers.js'
import {type ClusterConfig, HOP_HEADER_LOWER} from './config.js'
import {type PeerRouter, PeerOrigins} from './peer-forward.js'
import {peerTrust} from './trust.js'

/** What routing needs of the node (src/cluster/node.ts). */
export interface RoutingNode extends PeerRouter {
  readonly config: ClusterConfig
  /** More than one peer on the ring. */
  readonly active: boolean
  readonly healthPath: string
  /** The live peer that should serve `key` (`self` included). */
  ownerOf(key: string): string
  countIn(from: string): void
}

export const CLUSTER_PLUGIN = 'tavern:cluster'

const PROBE_ANSWER: Answer = {status: 204, headers: ['Cache-Control', 'no-store']}

/** The sender's id when `ctx` is a request a trusted peer forwarded, else undefined. */
function trustedHop(node: RoutingNode, ctx: HookContext): string | undefined {
  const from = getHeader(ctx.req.rawHeaders, HOP_HEADER_LOWER)
  if (from === undefined || !peerTrust(node.config).allows(ctx.client)) return undefined
  return from
}

export function clusterRouting(node: RoutingNode): HookRegistration {
  return {
    plugin: CLUSTER_PLUGIN,
    methods: ['GET', 'HEAD'],
    hooks: {
      onRequest: (ctx) => {
        if (ctx.path !== node.healthPath) return undefined
        return trustedHop(node, ctx) === undefined ? undefined : PROBE_ANSWER
      },
      onRoute: (ctx, route: Route) => {
        if (!node.active) return undefined
        const from = trustedHop(node, ctx)
        if (from !== undefined) {
          node.countIn(from)
          return undefined
        }
        const owner = node.ownerOf(ctx.key)
        if (owner === node.self || ctx.host === undefined) return undefined
        route.origins = new PeerOrigins(node, owner, ctx.key, `${ctx.scheme}://${ctx.host}`, route.origins)
        route.bypass = `owned by peer ${owner}`
        return undefined
      },
    },
  }
}
