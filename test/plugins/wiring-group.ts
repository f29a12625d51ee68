/**
 * Config-wiring rows (test/e2e/config-wiring.test.ts) for `plugins` and `headerRewrite`: each row sees the key act
 * on a real daemon, and for match keys also sees a request the match excludes left alone.
 */
import path from 'node:path'

import {expect} from 'vitest'

import type {WiringContext, WiringGroup} from '../helpers/config-keys.js'
import {REPO_ROOT} from '../helpers/daemon.js'
import {uniquePath} from '../helpers/origin.js'

/** Fetch `prefix + unique` from an origin answering with `headers`; returns the answer and what the origin got. */
async function through(ctx: WiringContext, prefix: string, o: {headers?: Record<string, string>; origin?: Record<string, string>; method?: string; host?: string; status?: number} = {}) {
  const p = `${prefix}${uniquePath('w').slice(1)}`
  ctx.origin.route(p, {status: o.status ?? 200, headers: {'Cache-Control': 'max-age=60', ...o.origin}, body: 'w'})
  const r = await ctx.daemon.request(p, {method: o.method ?? 'GET', headers: {...(o.host ? {Host: o.host} : {}), ...o.headers}})
  return {r, got: ctx.origin.requestsFor(p)[0], path: p}
}

export const pluginsGroup: WiringGroup = {
  name: 'plugins and header rewrite',
  config: () => ({
    plugins: [{module: path.join(REPO_ROOT, 'examples/plugins/deny-list.mjs'), options: {deny: [{paths: ['/wired-deny/']}], responseHeaders: {'X-Wired': 'yes'}}}],
    headerRewrite: {
      request: [{match: {hosts: ['127.0.0.1'], paths: ['/rq/'], methods: ['GET']}, set: {'X-RS': '$path'}, add: {'X-RA': 'a'}, remove: ['X-Drop'], rename: {'X-Old': 'X-New'}}],
      response: [
        {match: {hosts: ['127.0.0.1'], paths: ['/rs/'], methods: ['GET'], status: [200]}, set: {'X-S': 's'}, add: {'X-A': 'a'}, remove: ['X-Gone'], rename: {'X-From': 'X-To'}},
        {match: {paths: ['/st/']}, onStore: true, remove: ['X-Stored-Secret']},
      ],
    },
  }),
  rows: [
    {
      key: 'plugins[].module',
      expect: 'the named module is loaded: its onRequest hook denies a path',
      async check(ctx) {
        expect((await ctx.daemon.request('/wired-deny/x')).status).toBe(403)
      },
    },
    {
      key: 'plugins[].options',
      expect: "the plugin gets its options: their response header is on answers",
      async check(ctx) {
        expect((await through(ctx, '/plain/')).r.header('x-wired')).toBe('yes')
      },
    },
    {
      key: 'headerRewrite.request[].set',
      expect: 'the origin gets the field, with variables substituted',
      async check(ctx) {
        const {got} = await through(ctx, '/rq/')
        expect(got!.header('x-rs')).toBe(got!.path)
      },
    },
    {
      key: 'headerRewrite.request[].add',
      expect: 'the origin gets the added line',
      async check(ctx) {
        expect((await through(ctx, '/rq/')).got!.header('x-ra')).toBe('a')
      },
    },
    {
      key: 'headerRewrite.request[].remove',
      expect: 'the origin does not get the removed field',
      async check(ctx) {
        expect((await through(ctx, '/rq/', {headers: {'X-Drop': '1'}})).got!.header('x-drop')).toBeUndefined()
        expect((await through(ctx, '/other/', {headers: {'X-Drop': '1'}})).got!.header('x-drop')).toBe('1')
      },
    },
    {
      key: 'headerRewrite.request[].rename',
      expect: 'the origin gets the field under its new name',
      async check(ctx) {
        const {got} = await through(ctx, '/rq/', {headers: {'X-Old': 'v'}})
        expect([got!.header('x-old'), got!.header('x-new')]).toEqual([undefined, 'v'])
      },
    },
    {
      key: 'headerRewrite.request[].match.hosts',
      expect: 'another Host is left alone',
      async check(ctx) {
        expect((await through(ctx, '/rq/', {host: 'other.test'})).got!.header('x-ra')).toBeUndefined()
      },
    },
    {
      key: 'headerRewrite.request[].match.paths',
      expect: 'another path is left alone',
      async check(ctx) {
        expect((await through(ctx, '/elsewhere/')).got!.header('x-ra')).toBeUndefined()
      },
    },
    {
      key: 'headerRewrite.request[].match.methods',
      expect: 'another method is left alone',
      async check(ctx) {
        expect((await through(ctx, '/rq/', {method: 'POST'})).got!.header('x-ra')).toBeUndefined()
      },
    },
    {
      key: 'headerRewrite.response[].set',
      expect: 'the answer carries the set field',
      async check(ctx) {
        expect((await through(ctx, '/rs/')).r.header('x-s')).toBe('s')
      },
    },
    {
      key: 'headerRewrite.response[].add',
      expect: 'the answer carries the added line',
      async check(ctx) {
        expect((await through(ctx, '/rs/')).r.header('x-a')).toBe('a')
      },
    },
    {
      key: 'headerRewrite.response[].remove',
      expect: "the origin's field is not sent",
      async check(ctx) {
        expect((await through(ctx, '/rs/', {origin: {'X-Gone': '1'}})).r.header('x-gone')).toBeUndefined()
      },
    },
    {
      key: 'headerRewrite.response[].rename',
      expect: "the origin's field is sent under the new name",
      async check(ctx) {
        const {r} = await through(ctx, '/rs/', {origin: {'X-From': 'v'}})
        expect([r.header('x-from'), r.header('x-to')]).toEqual([undefined, 'v'])
      },
    },
    {
      key: 'headerRewrite.response[].match.hosts',
      expect: 'an answer for another Host is left alone',
      async check(ctx) {
        expect((await through(ctx, '/rs/', {host: 'other.test'})).r.header('x-s')).toBeUndefined()
      },
    },
    {
      key: 'headerRewrite.response[].match.paths',
      expect: 'an answer for another path is left alone',
      async check(ctx) {
        expect((await through(ctx, '/nors/')).r.header('x-s')).toBeUndefined()
      },
    },
    {
      key: 'headerRewrite.response[].match.methods',
      expect: 'an answer to another method is left alone',
      async check(ctx) {
        expect((await through(ctx, '/rs/', {method: 'HEAD'})).r.header('x-s')).toBeUndefined()
      },
    },
    {
      key: 'headerRewrite.response[].match.status[]',
      expect: 'an answer with another status is left alone',
      async check(ctx) {
        expect((await through(ctx, '/rs/', {status: 404})).r.header('x-s')).toBeUndefined()
      },
    },
    {
      key: 'headerRewrite.response[].onStore',
      expect: 'the field is gone from the stored copy (a hit), not only from the answer',
      async check(ctx) {
        const {r, path: p} = await through(ctx, '/st/', {origin: {'X-Stored-Secret': 's', 'X-Kept': 'k'}})
        expect(r.header('x-stored-secret')).toBeUndefined()
        const stored = await ctx.daemon.admin(`/keys/inspect?${new URLSearchParams({url: `${ctx.daemon.url}${p}`})}`)
        expect(stored.text).toContain('X-Kept')
        expect(stored.text).not.toContain('X-Stored-Secret')
      },
    },
  ],
}
