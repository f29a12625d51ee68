// Header rewrite: the options schema (errors name the rule and field), templates, rule matching and actions, and the
// plugin in an in-process pipeline: response rules on hits and misses alike without changing what is stored,
// request rules on what the origin gets, onStore rules on what is stored. The one-pass rule engine is checked
// against a plain reference that runs the rules one after another (the documented meaning), on random rule sets.
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ConfigError, validateConfig} from '../../src/config/load.js'
import {HeaderRewriteOptions, type ResponseRuleConfig} from '../../src/plugins/header-rewrite/options.js'
import {headerRewriteHooks} from '../../src/plugins/header-rewrite/plugin.js'
import {compileMatch, matches, splitAuthority} from '../../src/plugins/header-rewrite/match.js'
import {compileRules, type MatchInput} from '../../src/plugins/header-rewrite/rules.js'
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
  const rule = (r: unknown, kind: 'request' | 'response' = 'response') => [0, HeaderRewriteOptions.parse({[kind]: [r]})[kind][0]!] as const
  const applyRules = (h: string[], rules: ReadonlyArray<ReturnType<typeof rule>>, m: MatchInput, vars: (i: number) => string | undefined, onDropped?: (rule: number, name: string) => void) =>
    compileRules(rules, 'response').apply(h, m, vars, onDropped)
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

  it('returns the input list itself when no rule matches or no line changes', () => {
    const h = ['Content-Type', 'text/plain', 'Cache-Control', 'max-age=60']
    expect(applyRules(h, [rule({match: {paths: ['/img/']}, set: {'X-M': '1'}})], m, none)).toBe(h)
    expect(applyRules(h, [rule({remove: ['Server', 'X-Powered-By'], rename: {'X-Old': 'X-New'}})], m, none)).toBe(h)
    expect(applyRules(h, [rule({set: {'X-Up': '$upstream'}})], m, none)).toBe(h) // an empty value is not sent
  })

  it('later rules see what earlier ones did: added lines are removed, renamed and set again', () => {
    const list = HeaderRewriteOptions.parse({response: [{add: {'X-B': '1'}, rename: {Server: 'X-A'}}, {rename: {'x-b': 'X-C'}, set: {'X-A': 'one'}}, {remove: ['x-c'], add: {'X-C': 'kept'}}]}).response
    const out = compileRules(list.map((r, i) => [i, r] as const), 'response').apply(['x-a', '0', 'Server', 's'], m, none)
    expect(out).toEqual(['X-A', 'one', 'X-C', 'kept'])
  })
})

/** The meaning of a rule list: each matching rule in turn does remove + rename, then its sets, then its adds. */
function reference(h: readonly string[], rules: readonly ResponseRuleConfig[], m: MatchInput, vars: (i: number) => string | undefined, onDropped: (rule: number, name: string) => void): string[] {
  let out = [...h]
  rules.forEach((r, index) => {
    if (!matches(compileMatch(r), m, m.host === undefined ? undefined : splitAuthority(m.host))) return
    const value = (name: string, v: string): string | undefined => {
      const c = compileTemplate(v, new Set(VARIABLES), 'test')
      if ('error' in c) throw new Error(c.error)
      const s = expand(c.template, vars)
      if (c.template.length === 1 && typeof c.template[0] === 'string') return s
      if (s === '') return undefined
      if (/[\r\n\0]/.test(s)) {
        onDropped(index, name)
        return undefined
      }
      return s
    }
    const remove = new Set((r.remove ?? []).map((n) => n.toLowerCase()))
    const rename = new Map(Object.entries(r.rename ?? {}).map(([f, t]) => [f.toLowerCase(), t]))
    const next: string[] = []
    for (let i = 0; i < out.length; i += 2) {
      const l = out[i]!.toLowerCase()
      if (remove.has(l)) continue
      next.push(rename.get(l) ?? out[i]!, out[i + 1]!)
    }
    out = next
    for (const [name, v] of Object.entries(r.set ?? {})) {
      const x = value(name, v)
      if (x === undefined) continue
      const l = name.toLowerCase()
      const first = out.findIndex((n, i) => i % 2 === 0 && n.toLowerCase() === l)
      if (first < 0) out.push(name, x)
      else {
        out = out.filter((_, i) => {
          const at = i - (i % 2)
          return at === first || out[at]!.toLowerCase() !== l
        })
        out[first] = name
        out[first + 1] = x
      }
    }
    for (const [name, v] of Object.entries(r.add ?? {})) for (const one of Array.isArray(v) ? v : [v]) {
      const x = value(name, one)
      if (x !== undefined) out.push(name, x)
    }
  })
  return out
}

describe('the one-pass engine means what the rules say', () => {
  const names = ['X-A', 'x-a', 'X-B', 'x-B', 'Server', 'SERVER', 'X-Long-Name']
  const name = fc.constantFrom(...names)
  const value = fc.constantFrom('v', '1', '', '$host', '[$path]', '$upstream')
  const rule = fc
    .record(
      {
        match: fc.constantFrom(undefined, {paths: ['/a']}, {paths: ['/b']}, {status: ['2xx']}, {hosts: ['*.example.com']}),
        set: fc.dictionary(name, value, {maxKeys: 2}),
        add: fc.dictionary(name, fc.oneof(value, fc.array(value, {minLength: 1, maxLength: 2})), {maxKeys: 2}),
        remove: fc.array(name, {maxLength: 2}),
        rename: fc.dictionary(name, name, {maxKeys: 2}),
      },
      {requiredKeys: []},
    )
    .filter((r) => Object.keys(r.set ?? {}).length + Object.keys(r.add ?? {}).length + (r.remove?.length ?? 0) + Object.keys(r.rename ?? {}).length > 0)
  const headers = fc.array(fc.tuple(name, fc.constantFrom('0', '1', '2')), {maxLength: 6}).map((l) => l.flat())

  it('gives the same lines, in the same order, with the same reports, as applying the rules one by one', () => {
    fc.assert(
      fc.property(fc.array(rule, {minLength: 1, maxLength: 5}), headers, fc.constantFrom('/a/x', '/b'), fc.boolean(), (raw, h, path, evil) => {
        const rules = HeaderRewriteOptions.parse({response: raw}).response
        const m: MatchInput = {host: 'www.example.com', path, method: 'GET', status: 200}
        const vars = (i: number) => (i === 0 ? m.host : i === 1 ? (evil ? `${path}\r\nX: 1` : path) : undefined)
        const frozen = [...h]
        const got: string[] = []
        const want: string[] = []
        const out = compileRules(rules.map((r, i) => [i, r] as const), 'response').apply(h, m, vars, (r, n) => got.push(`${r}:${n}`))
        expect(out).toEqual(reference(h, rules, m, vars, (r, n) => want.push(`${r}:${n}`)))
        expect(got.sort()).toEqual(want.sort())
        expect(h).toEqual(frozen)
      }),
      {numRuns: 400},
    )
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
