/**
 * Config-wiring rows of `cluster.membership` (type redis): a daemon registers itself in a real redis-server under the
 * configured prefix, weight, heartbeat and ttl, and takes a node registered there into its ring.
 */
import {Redis} from 'ioredis'
import {expect} from 'vitest'

import type {ClusterStatusBody} from '../../../src/admin/protocol.js'
import type {WiringContext, WiringGroup} from '../../helpers/config-keys.js'
import {type RedisServer, startRedis} from '../../helpers/redis.js'
import {waitFor} from '../../helpers/wait.js'

const SELF = 'http://127.0.0.1:8001'
const PREFIX = 'wiring-cl:'

/** A short-lived client of the group's redis-server. */
async function withRedis<T>(ctx: WiringContext, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis((ctx.vars.redis as RedisServer).url, {maxRetriesPerRequest: 1})
  try {
    return await fn(r)
  } finally {
    r.disconnect()
  }
}

async function clusterStatus(ctx: WiringContext): Promise<NonNullable<ClusterStatusBody['cluster']>> {
  return (JSON.parse((await ctx.daemon.admin('/status/cluster')).text) as ClusterStatusBody).cluster!
}

/** Milliseconds until this node's registration runs out, on the Redis clock. */
async function leftMs(r: Redis): Promise<number> {
  const [score, [sec, usec]] = await Promise.all([r.zscore(`${PREFIX}members`, SELF), r.time()])
  return Number(score) - (Number(sec) * 1000 + Math.floor(Number(usec) / 1000))
}

export const clusterMembershipGroup: WiringGroup = {
  name: 'cluster membership through Redis',
  setup: async (ctx) => {
    const redis = await startRedis()
    if (!redis) throw new Error('redis-server is needed for these rows (apt-get install redis-server)')
    ctx.vars.redis = redis
  },
  config: (ctx) => ({
    cluster: {
      self: SELF,
      trust: ['127.0.0.1'],
      membership: {type: 'redis', url: (ctx.vars.redis as RedisServer).url, prefix: PREFIX, heartbeat: '200ms', ttl: '1500ms', weight: 7},
    },
  }),
  teardown: async (ctx) => {
    await (ctx.vars.redis as RedisServer | undefined)?.close()
  },
  rows: [
    {
      key: 'cluster.membership.type',
      expect: 'redis: the node registers in Redis and takes a node registered there into its ring (default static: the peers list only)',
      async check(ctx) {
        await withRedis(ctx, async (r) => {
          await waitFor(async () => (await r.zrange(`${PREFIX}members`, '0', '-1')).includes(SELF), {message: 'registered'})
          const [sec] = await r.time()
          await r.zadd(`${PREFIX}members`, Number(sec) * 1000 + 600_000, 'http://127.0.0.1:8002')
          await r.hset(`${PREFIX}weights`, 'http://127.0.0.1:8002', '1')
          await r.publish(`${PREFIX}changes`, 'changed')
        })
        await waitFor(async () => (await clusterStatus(ctx)).peers.some((p) => p.id === 'http://127.0.0.1:8002'), {message: 'the other node is in the ring'})
        expect((await clusterStatus(ctx)).membership).toBe('redis')
      },
    },
    {
      key: 'cluster.membership.url',
      expect: 'the node registers on this server (its members set holds the node)',
      async check(ctx) {
        expect(await withRedis(ctx, (r) => r.zrange(`${PREFIX}members`, '0', '-1'))).toContain(SELF)
      },
    },
    {
      key: 'cluster.membership.prefix',
      expect: 'wiring-cl: the keys are wiring-cl:members and wiring-cl:weights (default tavern:cluster:)',
      async check(ctx) {
        expect((await withRedis(ctx, (r) => r.keys('*'))).sort()).toEqual([`${PREFIX}members`, `${PREFIX}weights`])
      },
    },
    {
      key: 'cluster.membership.weight',
      expect: '7: Redis holds weight 7 for the node and status --cluster shows it (default 1)',
      async check(ctx) {
        expect(await withRedis(ctx, (r) => r.hget(`${PREFIX}weights`, SELF))).toBe('7')
        expect((await clusterStatus(ctx)).peers.find((p) => p.self)?.weight).toBe(7)
      },
    },
    {
      key: 'cluster.membership.heartbeat',
      expect: '200ms: the registration is refreshed about 5 times a second (default 1s: once)',
      async check(ctx) {
        const seen = await withRedis(ctx, async (r) => {
          const scores = new Set<string>()
          const end = Date.now() + 1000
          while (Date.now() < end) {
            scores.add(String(await r.zscore(`${PREFIX}members`, SELF)))
            await new Promise((res) => setTimeout(res, 40))
          }
          return scores.size
        })
        expect(seen).toBeGreaterThanOrEqual(4)
      },
    },
    {
      key: 'cluster.membership.ttl',
      expect: '1500ms: the registration runs out at most 1.5 s after a refresh (default 5s)',
      async check(ctx) {
        const left = await withRedis(ctx, leftMs)
        expect(left).toBeLessThanOrEqual(1500)
        expect(left).toBeGreaterThan(0)
      },
    },
  ],
}
