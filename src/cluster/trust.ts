/**
 * Whose hop header (and absolute-form scheme) a node believes: the addresses in `cluster.trust`, or by default the
 * IPs of the peer URLs (config.ts refuses a peer named by host name without an explicit `trust`). Anyone else
 * sending the header is an ordinary client: admission strips it and keys the request under the listener's scheme.
 */
import {AllowList, normalizeAddress} from '../util/cidr.js'
import {type ClusterConfig} from './config.js'
import {peerHostIp} from './peer-address.js'

const lists = new WeakMap<ClusterConfig, AllowList>()

/** The trusted peer addresses of a cluster config (built once per config object). */
export function peerTrust(c: ClusterConfig): AllowList {
  let l = lists.get(c)
  if (!l) {
    const ips = c.peers.flatMap((p) => {
      const ip = peerHostIp(p.url)
      return ip === undefined ? [] : [normalizeAddress(ip)]
    })
    l = new AllowList(c.trust ?? [...new Set(ips)])
    lists.set(c, l)
  }
  return l
}
