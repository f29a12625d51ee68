/**
 * The `cluster` config section: what it accepts, what it refuses (naming the key), and the trust it derives.
 */
import {describe, expect, it} from 'vitest'

import {peerTrust} from '../../src/cluster/trust.js'
import {ConfigError, validateConfig} from '../../src/config/load.js'

function problems(cluster: unknown): string[] {
  try {
    validateConfig({cluster}, 'test')
    return []
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
}

const A = 'http://10.0.0.1:8080'
const B = 'http://10.0.0.2:8080'

describe('cluster config', () => {
  it('is absent by default, and fills in its defaults when present', () => {
    expect(validateConfig({}, 'test').cluster).toBeUndefined()
    const c = validateConfig({cluster: {self: A, peers: [A, {url: B, weight: 2}]}}, 'test').cluster!
    expect(c.peers).toEqual([
      {url: A, weight: 1},
      {url: B, weight: 2},
    ])
    expect(c).toMatchObject({vnodes: 1024, connectTimeout: 1000, headersTimeout: 35_000, bodyTimeout: 60_000, membership: {type: 'static'}})
    expect(c.health).toEqual({interval: 2000, timeout: 1000, fall: 2, rise: 2, path: '/.well-known/tavern-peer'})
  })

  it.each([
    [{self: 'http://10.0.0.9:8080', peers: [A, B]}, 'cluster.self: http://10.0.0.9:8080 is not one of cluster.peers'],
    [{self: `${A}/x`, peers: [A]}, 'cluster.self: peer URL must have no path'],
    [{self: A, peers: [A, 'http://10.0.0.1:8080/']}, 'cluster.peers[1]: http://10.0.0.1:8080 is listed twice (also peers[0])'],
    [{self: A, peers: [A, 'ftp://x']}, 'cluster.peers[1]: peer URL must be http://host:port'],
    [{self: A, peers: [A, {url: B, weight: 0}]}, 'cluster.peers[1].weight'],
    [{self: A, peers: []}, 'cluster.peers'],
    [{self: 'http://a.internal:8080', peers: ['http://a.internal:8080']}, 'cluster.trust: http://a.internal:8080 names a host'],
    [{self: A, peers: [A], trust: ['10.0.0.0/40']}, 'cluster.trust[0]'],
    [{self: A, peers: [A], health: {interval: '1s', timeout: '2s'}}, 'cluster.health.timeout: timeout must not be longer than interval'],
    [{self: A, peers: [A], membership: {type: 'consul'}}, 'cluster.membership.type'],
    [{self: A, trust: ['10.0.0.1'], membership: {type: 'redis'}}, 'cluster.membership.url'],
    [{self: A, peers: [A], hopHeader: 'X'}, 'cluster.hopHeader'],
  ])('refuses %j naming the key', (cluster, problem) => {
    expect(problems(cluster).join('\n')).toContain(problem)
  })

  it("trusts the peers' IPs by default, or exactly cluster.trust", () => {
    const byDefault = validateConfig({cluster: {self: A, peers: [A, B, 'http://[::1]:9000']}}, 'test').cluster!
    expect(peerTrust(byDefault).entries).toEqual(['10.0.0.1', '10.0.0.2', '::1'])
    expect(peerTrust(byDefault).allows('::ffff:10.0.0.2')).toBe(true)
    expect(peerTrust(byDefault).allows('10.0.0.3')).toBe(false)
    const explicit = validateConfig({cluster: {self: 'http://a.internal:8080', peers: ['http://a.internal:8080'], trust: ['10.1.0.0/16']}}, 'test').cluster!
    expect(peerTrust(explicit).allows('10.1.2.3')).toBe(true)
    expect(peerTrust(explicit).allows('10.0.0.1')).toBe(false)
  })
})
