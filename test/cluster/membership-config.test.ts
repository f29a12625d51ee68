/**
 * `cluster.membership`: static by default; `redis` refuses bad values naming the key, needs `cluster.trust` and no
 * `peers`; createMembership builds what the config names.
 */
import {describe, expect, it} from 'vitest'

import {ConfigError, validateConfig} from '../../src/config/load.js'
import {createMembership, StaticMembership} from '../../src/cluster/membership.js'
import {RedisMembership} from '../../src/cluster/redis-membership.js'

const base = {listen: '127.0.0.1:8080', upstreams: ['http://127.0.0.1:3000']}
const redis = {type: 'redis', url: 'redis://127.0.0.1:6379'}

function problems(cluster: Record<string, unknown>): string[] {
  try {
    validateConfig({...base, cluster}, 'test')
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).problems
  }
  return []
}

function cluster(c: Record<string, unknown>) {
  return validateConfig({...base, cluster: c}, 'test').cluster!
}

describe('cluster.membership', () => {
  it('static by default; redis with its defaults', () => {
    expect(cluster({self: 'http://127.0.0.1:1', peers: ['http://127.0.0.1:1']}).membership).toEqual({type: 'static'})
    expect(cluster({self: 'http://127.0.0.1:1', trust: ['127.0.0.1'], membership: redis}).membership).toEqual({...redis, prefix: 'tavern:cluster:', heartbeat: 1000, ttl: 5000, weight: 1})
    expect(cluster({self: 'http://127.0.0.1:1', trust: ['127.0.0.1'], membership: {...redis, heartbeat: '200ms', ttl: '2s', prefix: 'a:', weight: 3}}).membership).toMatchObject({heartbeat: 200, ttl: 2000, prefix: 'a:', weight: 3})
  })

  it('refuses bad values, naming the key', () => {
    const self = {self: 'http://127.0.0.1:1', trust: ['127.0.0.1']}
    expect(problems({...self, membership: {...redis, url: 'http://x'}}).join('\n')).toMatch(/cluster\.membership\.url: expected redis:\/\//)
    expect(problems({...self, membership: {...redis, heartbeat: '1s', ttl: '1s'}}).join('\n')).toMatch(/cluster\.membership\.ttl: ttl \(1000ms\) must be longer than heartbeat/)
    expect(problems({...self, membership: {...redis, heartbeat: '5ms'}}).join('\n')).toMatch(/cluster\.membership\.heartbeat: heartbeat must be at least 10ms/)
    expect(problems({...self, membership: {...redis, heartbeat: 'soon'}}).join('\n')).toMatch(/cluster\.membership\.heartbeat: not a duration/)
    expect(problems({...self, membership: {...redis, weight: 0}}).join('\n')).toMatch(/cluster\.membership\.weight/)
    expect(problems({...self, membership: {...redis, prefix: ''}}).join('\n')).toMatch(/cluster\.membership\.prefix/)
    expect(problems({...self, membership: {...redis, ttl: '5s', extra: 1}}).join('\n')).toMatch(/cluster\.membership\.extra/)
    expect(problems({...self, membership: {type: 'consul'}}).join('\n')).toMatch(/cluster\.membership\.type/)
  })

  it('redis: no peers list, and cluster.trust is required; static: peers are required', () => {
    expect(problems({self: 'http://127.0.0.1:1', trust: ['127.0.0.1'], peers: ['http://127.0.0.1:1'], membership: redis}).join('\n')).toMatch(/cluster\.peers: not with membership\.type redis/)
    expect(problems({self: 'http://127.0.0.1:1', membership: redis}).join('\n')).toMatch(/cluster\.trust: membership\.type redis needs cluster\.trust/)
    expect(problems({self: 'http://127.0.0.1:1'}).join('\n')).toMatch(/cluster\.peers: list every node/)
  })

  it('createMembership builds what the config names', async () => {
    expect(createMembership(cluster({self: 'http://127.0.0.1:1', peers: ['http://127.0.0.1:1']}))).toBeInstanceOf(StaticMembership)
    const m = createMembership(cluster({self: 'http://127.0.0.1:1', trust: ['127.0.0.1'], membership: redis}))
    expect(m).toBeInstanceOf(RedisMembership)
    await m.close()
  })
})
