import {describe, expect, it} from 'vitest'

import {AllowList, normalizeAddress} from '../../src/util/cidr.js'

describe('AllowList (purge.allow)', () => {
  it('matches IPv4 CIDRs, plain addresses, IPv6, and IPv4-mapped IPv6 peers', () => {
    const l = new AllowList(['127.0.0.1/8', '::1/128', '192.168.1.7', '2001:db8::/32'])
    expect(l.allows('127.0.0.1')).toBe(true)
    expect(l.allows('127.9.9.9')).toBe(true)
    expect(l.allows('::ffff:127.0.0.1')).toBe(true)
    expect(l.allows('::FFFF:127.0.0.2')).toBe(true)
    expect(l.allows('::1')).toBe(true)
    expect(l.allows('192.168.1.7')).toBe(true)
    expect(l.allows('::ffff:192.168.1.7')).toBe(true)
    expect(l.allows('192.168.1.8')).toBe(false)
    expect(l.allows('2001:db8:1::5')).toBe(true)
    expect(l.allows('2001:db9::5')).toBe(false)
    expect(l.allows('10.0.0.1')).toBe(false)
    expect(l.allows(undefined)).toBe(false)
    expect(l.allows('garbage')).toBe(false)
  })

  it('refuses loopback when only 10.0.0.0/8 is allowed', () => {
    const l = new AllowList(['10.0.0.0/8'])
    expect(l.allows('127.0.0.1')).toBe(false)
    expect(l.allows('::ffff:127.0.0.1')).toBe(false)
    expect(l.allows('::ffff:10.20.30.40')).toBe(true)
    expect(l.allows('::1')).toBe(false)
  })

  it('normalizes addresses and rejects bad entries', () => {
    expect(normalizeAddress('::ffff:10.1.2.3')).toBe('10.1.2.3')
    expect(normalizeAddress('[::1]')).toBe('::1')
    expect(normalizeAddress('fe80::1%eth0')).toBe('fe80::1')
    expect(() => new AllowList(['10.0.0.0/33'])).toThrow(/prefix/)
    expect(() => new AllowList(['nope'])).toThrow(/not an IP/)
  })
})
