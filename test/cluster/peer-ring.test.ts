import {describe, expect, it} from 'vitest'

import {PeerRing, peerId, ringKeyOfUrl} from '../../src/cluster/peer-ring.js'

describe('peerId', () => {
  it('normalises scheme, host case, default port and a trailing slash', () => {
    expect(peerId('HTTP://Node-A.example:80/')).toBe('http://node-a.example')
    expect(peerId('https://10.0.0.2:443')).toBe('https://10.0.0.2')
    expect(peerId('http://[::1]:8080')).toBe('http://[::1]:8080')
  })

  it('refuses paths, user info, other schemes and an empty host', () => {
    expect(() => peerId('http://a:1/x')).toThrow(/no path/)
    expect(() => peerId('http://u@a:1')).toThrow(/user info/)
    expect(() => peerId('ftp://a')).toThrow(/http:\/\/host:port/)
    expect(() => peerId('http://')).toThrow(/no host/)
  })
})

describe('ringKeyOfUrl', () => {
  it('is the default-rule cache key: URI equivalences only, query kept as is', () => {
    expect(ringKeyOfUrl('HTTPS://Api.Example:443/a/./b/../c?z=1&a=2#frag')).toBe('https://api.example/a/c?z=1&a=2')
    expect(ringKeyOfUrl('http://h/%7euser')).toBe('http://h/~user')
    expect(ringKeyOfUrl('/relative')).toBeUndefined()
  })
})

describe('PeerRing', () => {
  const peers = [{url: 'http://127.0.0.1:9001'}, {url: 'http://127.0.0.1:9002'}, {url: 'http://127.0.0.1:9003'}]

  it('gives every node the same owner whatever order peers are listed in', () => {
    const a = new PeerRing(peers)
    const b = new PeerRing([...peers].reverse())
    for (let i = 0; i < 500; i++) {
      const k = `http://site/obj/${i}`
      expect(b.owner(k)).toBe(a.owner(k))
    }
  })

  it('spreads keys about evenly and moves only a removed peer\'s keys', () => {
    const full = new PeerRing(peers)
    const two = new PeerRing(peers.slice(0, 2))
    const counts = new Map<string, number>()
    let moved = 0
    for (let i = 0; i < 3000; i++) {
      const k = `http://site/obj/${i}`
      const o = full.owner(k)!
      counts.set(o, (counts.get(o) ?? 0) + 1)
      if (o !== 'http://127.0.0.1:9003' && two.owner(k) !== o) moved++
    }
    for (const c of counts.values()) expect(Math.abs(c / 3000 - 1 / 3)).toBeLessThan(0.15 / 3)
    expect(moved).toBe(0)
  })

  it('skips peers that are down, in ring order', () => {
    const r = new PeerRing(peers)
    const k = 'http://site/x'
    const [first, second] = r.sequence(k)
    expect(r.owner(k, (id) => id === first)).toBe(second)
  })

  it('refuses a peer listed twice under two spellings', () => {
    expect(() => new PeerRing([{url: 'http://A:80'}, {url: 'http://a/'}])).toThrow(/listed twice/)
  })
})
