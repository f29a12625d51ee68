import {BlockList, isIP} from 'node:net'

/** Whether `v` is an IP address or a CIDR block (`10.0.0.0/8`, `::1/128`): what the config's allow-lists accept. */
export function isCidr(v: string): boolean {
  const [ip, bits, ...rest] = v.split('/')
  if (rest.length || !ip) return false
  const fam = isIP(ip)
  if (!fam) return false
  if (bits === undefined) return true
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (fam === 4 ? 32 : 128)
}

/**
 * Address allow-lists from CIDR strings (`10.0.0.0/8`, `::1/128`) or plain addresses, matched with node:net BlockList.
 * IPv4-mapped IPv6 peers (`::ffff:127.0.0.1`, what a dual-stack listener reports) are matched as IPv4.
 */
export class AllowList {
  private readonly list = new BlockList()
  readonly entries: readonly string[]

  constructor(cidrs: readonly string[]) {
    this.entries = [...cidrs]
    for (const c of cidrs) {
      const slash = c.indexOf('/')
      const ip = normalizeAddress(slash < 0 ? c : c.slice(0, slash))
      const fam = isIP(ip)
      if (fam === 0) throw new TypeError(`not an IP address or CIDR: ${c}`)
      const type = fam === 4 ? 'ipv4' : 'ipv6'
      if (slash < 0) this.list.addAddress(ip, type)
      else {
        const bits = Number(c.slice(slash + 1))
        if (!Number.isInteger(bits) || bits < 0 || bits > (fam === 4 ? 32 : 128)) throw new TypeError(`bad prefix length in ${c}`)
        this.list.addSubnet(ip, bits, type)
      }
    }
  }

  /** Whether the peer address is inside one of the ranges; false for a missing or unparsable address. */
  allows(address: string | undefined): boolean {
    if (!address) return false
    const ip = normalizeAddress(address)
    const fam = isIP(ip)
    if (fam === 0) return false
    return this.list.check(ip, fam === 4 ? 'ipv4' : 'ipv6')
  }
}

/** `::ffff:a.b.c.d` → `a.b.c.d`; strips brackets and an IPv6 zone id. */
export function normalizeAddress(address: string): string {
  let a = address.trim()
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1)
  const zone = a.indexOf('%')
  if (zone >= 0) a = a.slice(0, zone)
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(a)
  return m ? m[1]! : a
}

const cache = new WeakMap<readonly string[], AllowList>()

/** One AllowList per config array (a reload brings a new array, so a new list). */
export function allowListFor(cidrs: readonly string[]): AllowList {
  let l = cache.get(cidrs)
  if (!l) {
    l = new AllowList(cidrs)
    cache.set(cidrs, l)
  }
  return l
}
