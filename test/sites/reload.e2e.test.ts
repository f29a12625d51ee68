// Reload rebuilds the upstream groups and the route table: a route moved to another group, a group pointed at
// another origin, a new site — all take effect on `tavern reload`; an invalid sites config is refused (422) and the
// running routing keeps serving.
import fs from 'node:fs'

import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'

let a: Origin
let b: Origin
let c: Origin
let d: DaemonHandle
let configFile: string

const config = (groupUrl: string, extraSite = false) => ({
  upstreams: [a.url],
  upstreamGroups: {g: {upstreams: [groupUrl]}},
  sites: {
    shop: {hosts: ['shop.test'], routes: {api: {prefix: '/api/', group: 'g'}}},
    ...(extraSite ? {blog: {hosts: ['blog.test'], group: 'g'}} : {}),
    default: {},
  },
})

beforeAll(async () => {
  ;[a, b, c] = await Promise.all([startOrigin(), startOrigin(), startOrigin()])
  d = await startDaemon({config: config(b.url)})
  const args = d.process.spawnargs
  configFile = args[args.indexOf('--config') + 1]!
}, 60_000)
afterAll(async () => {
  await d?.stop()
  await Promise.all([a, b, c].map((o) => o?.close()))
}, 30_000)

function answerEverywhere(p: string): void {
  a.route(p, {body: 'a'})
  b.route(p, {body: 'b'})
  c.route(p, {body: 'c'})
}

async function who(host: string, prefix: string): Promise<string> {
  const p = `${prefix}${uniquePath('rl').slice(1)}`
  answerEverywhere(p)
  const r = await d.request(p, {headers: {host}})
  return r.status === 200 ? r.text : String(r.status)
}

it('reload points a group at another origin and adds a site', async () => {
  expect(await who('shop.test', '/api/')).toBe('b')
  expect(await who('blog.test', '/')).toBe('a') // the default site
  fs.writeFileSync(configFile, JSON.stringify(config(c.url, true)))
  const r = await runCli(['reload', '--socket', d.socket])
  expect(r.code, r.stderr).toBe(0)
  expect(await who('shop.test', '/api/')).toBe('c')
  expect(await who('blog.test', '/')).toBe('c')
  expect(await who('shop.test', '/')).toBe('a')
})

it('an invalid sites config is refused, names the key, and the running routing keeps serving', async () => {
  fs.writeFileSync(configFile, JSON.stringify({...config(c.url, true), sites: {shop: {hosts: ['shop.test'], group: 'missing'}}}))
  const r = await runCli(['reload', '--socket', d.socket])
  expect(r.code).toBe(1)
  expect(r.stderr + r.stdout).toContain('sites.shop.group: no upstream group named missing')
  expect(await who('shop.test', '/api/')).toBe('c')
})
