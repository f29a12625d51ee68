// Header rewrite: the options schema (errors name the rule and field), templates, rule matching and actions, and the
// plugin in an in-process pipeline: response rules on hits and misses alike without changing what is stored,
// request rules on what the origin gets, onStore rules on what is stored.
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ConfigError, validateConfig} from '../../src/config/load.js'
import {HeaderRewriteOptions} from '../../src/plugins/header-rewrite/options.js'
import {headerRewriteHooks} from '../../src/plugins/header-rewrite/plugin.js'
import {applyRules, compileRule} from '../../src/plugins/header-rewrite/rules.js'
import {compileTemplate, expand, VARIABLES} from '../../src/plugins/header-rewrite/template.js'
import {httpRequest, type HttpResult} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {createTestPipeline, type TestPipeline} from '../helpers/pipeline.js'

function problems(headerRewrite: unknown): string[] {
  try {
    validateConfig({headerRewrite}, 'test')
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

describe('options', () => {
  it('accepts a full rule set', () => {
    expect(
      problems({
        request: [{match: {hosts: ['Example.com', '*.example.org:8080'], paths: ['/api/'], methods: ['GET']}, set: {'X-Real-IP': '$remote_addr', Host: 'backend.internal'}, remove: ['Cookie']}],
        response: [{match: {status: [200, '3xx']}, add: {'X-Served': ['$cache_status', 'by $upstream']}, rename: {Server: 'X-Origin-Server'}}, {onStore: true, remove: ['Set-Cookie'], set: {'X-From': '${upstream}'}}],
      }),
    ).toEqual([])
  })

  it('names the rule index and field of a bad name, a CR/LF value, an unknown variable', () => {
    const p = problems({
      request: [{set: {'Bad Name': 'x'}}, {set: {'X-Ok': 'a\r\nInjected: 1'}}],
      response: [{add: {'X-A': '$hots'}}, {set: {'X-B': 'cost: 5$'}}, {remove: ['Content-Length']}, {set: {'X-C': '$upstream'}, onStore: false}],
    })
    expect(p).toContain('headerRewrite.request[0].set.Bad Name: "Bad Name" is not a header field name')
    expect(p).toContain('headerRewrite.request[1].set.X-Ok: a header value cannot contain CR, LF or NUL')
    expect(p.find((x) => x.startsWith('headerRewrite.response[0].add.X-A:'))).toMatch(/unknown variable \$hots \(known: \$host, \$path/)
    expect(p.find((x) => x.startsWith('headerRewrite.response[1].set.X-B:'))).toMatch(/lone \$/)
    expect(p.find((x) => x.startsWith('headerRewrite.response[2].remove[0]:'))).toMatch(/frames the message/)
    expect(p.some((x) => x.startsWith('headerRewrite.response[3]'))).toBe(false)
  })

  it('refuses variables not known where the rule runs, unknown fields, empty rules', () => {
    const p = problems({request: [{set: {'X-S': '$cache_status'}}, {set: {'X-U': '$upstream'}}, {}, {sett: {}}], response: [{onStore: true, set: {'X-S': '$cache_status'}}]})
    expect(p.find((x) => x.startsWith('headerRewrite.request[0].set.X-S:'))).toMatch(/\$cache_status is not known yet in request rules/)
    expect(p.find((x) => x.startsWith('headerRewrite.request[1].set.X-U:'))).toMatch(/\$upstream is not known yet/)
    expect(p).toContain('headerRewrite.request[2]: a rule needs at least one of set, add, remove, rename')
    expect(p.some((x) => x.startsWith('headerRewrite.request[3].sett: unknown key'))).toBe(true)
    expect(p.find((x) => x.startsWith('headerRewrite.response[0].set.X-S:'))).toMatch(/not known yet in onStore rules/)
  })

  it('Host in request rules may only be set', () => {
    expect(problems({request: [{remove: ['Host']}]})[0]).toMatch(/^headerRewrite.request\[0\].remove\[0\]: Host can only be set/)
    expect(problems({request: [{set: {Host: 'origin.internal'}}]})).toEqual([])
  })
})

describe('templates', () => {
  it('literals, $name, ${name}, $$', () => {
    const vars = (i: number) => ['h.test', '/p', '10.0.0.1', 'id1', 'tavern; hit', 'up1'][i]
    const t = (s: string) => {
      const r = compileTemplate(s, new Set(VARIABLES), 'test')
      if ('error' in r) throw new Error(r.error)
      return expand(r.template, vars)
    }
    expect(t('plain')).toBe('plain')
    expect(t('')).toBe('')
    expect(t('$host$path')).toBe('h.test/p')
    expect(t('${host}x $$5 $remote_addr;$request_id')).toBe('h.testx $5 10.0.0.1;id1')
    expect(t('[$cache_status] via $upstream')).toBe('[tavern; hit] via up1')
  })
})

describe('rules', () => {
  const rule = (r: unknown, kind: 'request' | 'response' = 'response') => compileRule(HeaderRewriteOptions.parse({[kind]: [r]})[kind][0]!, 0, kind)
  const none = () => undefined
  const m = {host: 'www.example.com:8080', path: '/static/app.js', method: 'GET', status: 200}

  it('set replaces every line in place, add appends, remove and rename keep order; the input is not changed', () => {
    const h = ['Server', 'origin', 'Set-Cookie', 'a=1', 'X-A', '1', 'set-cookie', 'b=2', 'X-A', '2']
    const frozen = [...h]
    const out = applyRules(h, [rule({set: {'x-a': 'new'}, add: {'X-Added': ['1', '2']}, remove: ['SET-COOKIE'], rename: {server: 'X-Origin-Server'}})], m, none)
    expect(out).toEqual(['X-Origin-Server', 'origin', 'x-a', 'new', 'X-Added', '1', 'X-Added', '2'])
    expect(h).toEqual(frozen)
  })

  it('matches hosts (exact, wildcard, port), path prefixes, methods and statuses', () => {
    const r = (match: unknown) => applyRules([], [rule({match, set: {'X-M': '1'}})], m, none).length > 0
    expect(r({hosts: ['www.example.com']})).toBe(true)
    expect(r({hosts: ['WWW.example.com:8080']})).toBe(true)
    expect(r({hosts: ['www.example.com:80']})).toBe(false)
    expect(r({hosts: ['*.example.com']})).toBe(true)
    expect(r({hosts: ['*.www.example.com']})).toBe(false)
    expect(r({hosts: ['example.com']})).toBe(false)
    expect(r({paths: ['/img/', '/static/']})).toBe(true)
    expect(r({paths: ['/img/']})).toBe(false)
    expect(r({methods: ['HEAD']})).toBe(false)
    expect(r({status: ['2xx']})).toBe(true)
    expect(r({status: [404, '5xx']})).toBe(false)
    expect(r({status: [200], methods: ['GET'], paths: ['/'], hosts: ['*.example.com']})).toBe(true)
  })

  it('a substituted value with CR/LF is dropped and reported; an empty one is not sent', () => {
    const dropped: string[] = []
    const vars = (i: number) => (i === 0 ? 'evil\r\nSet-Cookie: x=1' : undefined)
    const out = applyRules([], [rule({set: {'X-Host': 'h=$host', 'X-Up': '$upstream', 'X-Const': ''}})], m, vars, (_r, n) => dropped.push(n))
    expect(out).toEqual(['X-Const', ''])
    expect(dropped).toEqual(['X-Host'])
  })
})

describe('in a pipeline', () => {
  let origin: Origin
  let pipe: TestPipeline
  let server: http.Server
  const keys = new Map<string, string>()
  const req = (p: string, o: Parameters<typeof httpRequest>[1] = {}): Promise<HttpResult> => httpRequest(p, {...o, host: '127.0.0.1', port: (server.address() as AddressInfo).port})

  beforeAll(async () => {
    origin = await startOrigin()
    const rules = HeaderRewriteOptions.parse({
      request: [{set: {'X-Real-IP': '$remote_addr', 'X-Req': '$request_id'}, remove: ['Cookie']}, {match: {paths: ['/api/']}, add: {'X-Api': 'yes'}}],
      response: [
        {set: {'X-Cache-Said': '$cache_status', 'X-Upstream': '$upstream'}, remove: ['Server']},
        {match: {status: ['4xx', '5xx']}, set: {'Cache-Control': 'no-store'}},
        {onStore: true, remove: ['X-Secret']},
      ],
    })
    pipe = await createTestPipeline(origin.url, {}, [
      {plugin: 'header-rewrite', hooks: headerRewriteHooks(rules, () => {})},
      {plugin: 'spy', hooks: {onResponse: (ctx) => void keys.set(ctx.path, ctx.key)}},
    ])
    server = http.createServer(pipe.handler)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  }, 30_000)
  afterAll(async () => {
    server?.closeAllConnections()
    await new Promise((r) => server?.close(r))
    await pipe?.close()
    await origin?.close()
  })

  it('response rules apply to the miss and to hits; the stored headers stay the origin’s (minus onStore rules)', async () => {
    const p = uniquePath('hr')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60', Server: 'origin/1', 'X-Secret': 's'}, body: 'body'})
    const miss = await req(p)
    expect(miss.header('server')).toBeUndefined()
    expect(miss.header('x-secret')).toBeUndefined()
    expect(miss.header('x-cache-said')).toMatch(/^tavern; fwd=/)
    expect(miss.header('x-upstream')).toBeTruthy()
    const hit = await req(p)
    expect(hit.header('cache-status')).toMatch(/hit/)
    expect(hit.header('x-cache-said')).toBe(hit.header('cache-status'))
    expect(hit.header('server')).toBeUndefined()
    expect(hit.header('x-upstream')).toBeUndefined() // no upstream answered a hit: an empty value is not sent
    const stored = pipe.storage.variants(keys.get(p)!)[0]!.headers
    expect(stored).toContain('Server')
    expect(stored).not.toContain('X-Secret')
    expect(stored.some((n) => /^x-(cache-said|upstream)$/i.test(n))).toBe(false)
  })

  it('request rules change what the origin gets', async () => {
    const p = `/api${uniquePath('hrq')}`
    origin.route(p, {headers: {'Cache-Control': 'max-age=60'}, body: 'x'})
    await req(p, {headers: {Cookie: 'a=1', 'X-Request-ID': 'abc-123'}})
    const got = origin.requestsFor(p)[0]!
    expect(got.header('cookie')).toBeUndefined()
    expect(got.header('x-real-ip')).toBe('127.0.0.1')
    expect(got.header('x-req')).toBe('abc-123')
    expect(got.header('x-api')).toBe('yes')
  })

  it('status-matched rules: only error answers', async () => {
    const p = uniquePath('hr404')
    origin.route(p, {status: 404, headers: {'Cache-Control': 'max-age=60'}, body: 'no'})
    expect((await req(p)).header('cache-control')).toBe('no-store')
    const ok = uniquePath('hr200')
    origin.route(ok, {headers: {'Cache-Control': 'max-age=60'}, body: 'ok'})
    expect((await req(ok)).header('cache-control')).toBe('max-age=60')
  })
})
