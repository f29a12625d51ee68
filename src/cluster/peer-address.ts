import {isIP} from 'node:net'

import {parseAbsoluteUri} from '../cache/cache-key.js'

/** The IP literal a peer URL names (brackets removed), or undefined when it names a host. */
export function peerHostIp(url: string): string | undefined {
  const u = parseAbsoluteUri(url.trim())
  if (!u) return undefined
  const a = u.authority
  const host = a.startsWith('[') ? a.slice(1, a.indexOf(']')) : a.replace(/:\d*$/, '')
  return isIP(host) ? host : undefined
}
