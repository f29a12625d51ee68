// Plugins through the built daemon: the example deny-list plugin from examples/plugins/ (loaded by a path relative
// to the config file) and the header-rewrite built-in; `config check` and start refuse a bad plugin naming it and
// the key; a reload with a broken plugin (syntax error, options that fail its schema, a throwing setup) is refused
// with a non-zero exit and the old set keeps serving; a replaced set is closed only once the requests that arrived
// with it are over; inspect-key shows stored headers, not rewritten ones.
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type DaemonHandle, makeTempDir, REPO_ROOT, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'
import {waitFor} from '../helpers/wait.js'

const EXAMPLE = path.join(REPO_ROOT, 'examples/plugins/deny-list.mjs')

let origin: Origin
beforeAll(async () => {
  origin = await startOrigin()
}, 30_000)
afterAll(async () => {
  await origin?.close()
})

const denyList = (header = 'one') => ({module: EXAMPLE, options: {deny: [{paths: ['/admin/'], allowFrom: ['10.0.0.0/8']}], responseHeaders: {'X-Example': header}}})

/** A plugin module without imports (definePlugin is optional: a plain default export works from any directory). */
const CLOSE_MARKER_PLUGIN = `import fs from 'node:fs'
export default {
  name: 'close-marker',
  setup(options) {
    return {hooks: {onSend(ctx, head) { head.headers = head.headers.concat('X-Set', options.tag) }}, close() { fs.writeFileSync(options.marker, 'closed ' + options.tag) }}
  },
  optionsSchema: {safeParse: (v) => (v && typeof v.tag === 'string' && typeof v.marker === 'string' ? {success: true, data: v} : {success: false, error: {issues: [{code: 'custom', path: ['tag'], message: 'tag and marker are required strings'}]}})},
}
`

describe('the example plugin and header rewrite in a daemon', () => {
  let d: DaemonHandle
  let configFile: string
  const base = {cache: {xCache: false}}
  const rewrite = {
    request: [{set: {'X-Real-IP': '$remote_addr'}}],
    response: [{set: {'X-Cache-Said': '$cache_status'}, remove: ['Server']}],
  }
  const write = (c: unknown) => fs.writeFileSync(configFile, JSON.stringify(c))
  const reload = () => runCli(['reload', '--socket', d.socket])

  beforeAll(async () => {
    d = await startDaemon({upstream: origin.url, config: {...base, headerRewrite: rewrite, plugins: [denyList()]}})
    const args = d.process.spawnargs
    configFile = args[args.indexOf('--config') + 1]!
  }, 30_000)
  afterAll(async () => {
    await d?.stop()
  }, 30_000)

  it('denies a path prefix in onRequest (the origin never sees it) and adds its header to every answer', async () => {
    const denied = await d.request('/admin/panel')
    expect(denied.status).toBe(403)
    expect(denied.body.toString()).toBe('Forbidden\n')
    expect(denied.header('cache-control')).toBe('no-store')
    expect(denied.header('x-example')).toBe('one')
    expect(origin.countFor('/admin/panel')).toBe(0)
    const p = uniquePath('ok')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60', Server: 'origin/1'}, body: 'fine'})
    const miss = await d.request(p)
    const hit = await d.request(p)
    for (const r of [miss, hit]) {
      expect(r.status).toBe(200)
      expect(r.header('x-example')).toBe('one')
      expect(r.header('server')).toBeUndefined()
      expect(r.header('x-cache-said')).toBe(r.header('cache-status'))
    }
    expect(hit.header('cache-status')).toMatch(/hit/)
    expect(origin.requestsFor(p)[0]!.header('x-real-ip')).toBe('127.0.0.1')
  })

  it('inspect-key shows the stored headers, not the rewritten ones', async () => {
    const p = uniquePath('inspect')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60', Server: 'origin/1'}, body: 'x'})
    await d.request(p)
    const r = await runCli(['inspect-key', '--json', '--socket', d.socket, `${d.url}${p}`])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('origin/1')
    expect(r.stdout).not.toMatch(/x-cache-said|x-example/i)
  }, 60_000)

  it('a reload with a broken plugin is refused (exit 1, naming it) and the old set keeps serving', async () => {
    const dir = path.dirname(configFile)
    fs.writeFileSync(path.join(dir, 'syntax.mjs'), 'export default {name: "broken", hooks: {onRequest(ctx) { return }}\n')
    fs.writeFileSync(path.join(dir, 'throws.mjs'), 'export default {name: "throws", setup() { throw new Error("no licence key") }}\n')
    const cases: Array<[unknown, RegExp]> = [
      [[{module: './syntax.mjs'}], /plugins\[0\]\.module: cannot load \.\/syntax\.mjs: SyntaxError/],
      [[{module: './missing.mjs'}], /plugins\[0\]\.module: cannot read .*missing\.mjs \(ENOENT\)/],
      [[denyList(), {module: './throws.mjs'}], /plugins\[1\] \(throws\): setup failed: no licence key/],
      [[{module: EXAMPLE, options: {deny: [{paths: ['admin']}], bogus: 1}}], /plugins\[0\] \(deny-list\)\.options\.deny\[0\]\.paths\[0\]: a path prefix starts with \//],
      [[{module: 'tavern:nope'}], /no built-in plugin "tavern:nope"/],
    ]
    for (const [plugins, problem] of cases) {
      write({...base, headerRewrite: rewrite, plugins})
      const r = await reload()
      expect(r.code, r.stdout + r.stderr).toBe(1)
      expect(r.stderr).toMatch(problem)
      expect((await d.request('/admin/x')).status).toBe(403)
      expect((await d.request('/admin/x')).header('x-example')).toBe('one')
    }
    write({...base, headerRewrite: rewrite, plugins: [{module: EXAMPLE, options: {deny: [{paths: ['admin']}], bogus: 1}}]})
    const j = await runCli(['reload', '--json', '--socket', d.socket])
    expect(j.code).toBe(1)
    const err = JSON.parse(j.stdout).error
    expect(err.code).toBe('TAVERN_ERR_RELOAD_REFUSED')
    expect(err.message).toContain('plugins[0] (deny-list).options.bogus: unknown key')
  }, 120_000)

  it('a good reload applies the new set (a path relative to the config file works); header rules can go', async () => {
    write({...base, plugins: [{...denyList('two'), module: path.relative(path.dirname(configFile), EXAMPLE)}]})
    const r = await reload()
    expect(r.code, r.stderr).toBe(0)
    const p = uniquePath('after')
    origin.route(p, {headers: {'Cache-Control': 'max-age=60', Server: 'origin/1'}, body: 'x'})
    const a = await d.request(p)
    expect(a.header('x-example')).toBe('two')
    expect(a.header('server')).toBe('origin/1')
    expect(a.header('x-cache-said')).toBeUndefined()
  }, 60_000)

  it('a replaced set is closed only after the requests that arrived with it are over', async () => {
    const dir = path.dirname(configFile)
    fs.writeFileSync(path.join(dir, 'marker.mjs'), CLOSE_MARKER_PLUGIN)
    const marker = path.join(makeTempDir(), 'closed')
    write({...base, plugins: [{module: './marker.mjs', options: {tag: 'old', marker}}]})
    expect((await reload()).code).toBe(0)
    const slow = uniquePath('slow')
    let release!: () => void
    origin.route(slow, () => new Promise((resolve) => (release = () => resolve({headers: {'Cache-Control': 'no-store'}, body: 'late'}))))
    const inFlight = d.request(slow)
    await origin.waitForCount(slow, 1)
    write({...base, plugins: [{module: './marker.mjs', options: {tag: 'new', marker: marker + '.new'}}]})
    expect((await reload()).code).toBe(0)
    expect((await d.request('/admin/x')).header('x-set')).toBe('new')
    await new Promise((r) => setTimeout(r, 300)) // a close that does not wait would have happened by now
    expect(fs.existsSync(marker)).toBe(false) // the slow request still runs with the old set
    release()
    const r = await inFlight
    expect(r.header('x-set')).toBe('old')
    expect(await waitFor(() => fs.existsSync(marker) && fs.readFileSync(marker, 'utf8'))).toBe('closed old')
  }, 60_000)
})

describe('config check and start', () => {
  it('config check validates plugin options and names the plugin and key', async () => {
    const dir = makeTempDir()
    const file = path.join(dir, 'tavern.config.json')
    fs.writeFileSync(file, JSON.stringify({upstreams: [origin.url], storage: {dir: path.join(dir, 's')}, plugins: [{module: EXAMPLE, options: {deny: []}}], headerRewrite: {response: [{set: {'X-A': '$nope'}}]}}))
    const r = await runCli(['config', 'check', '-c', file])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/headerRewrite\.response\[0\]\.set\.X-A: unknown variable \$nope/)
    fs.writeFileSync(file, JSON.stringify({upstreams: [origin.url], storage: {dir: path.join(dir, 's')}, plugins: [{module: EXAMPLE, options: {deny: []}}]}))
    const r2 = await runCli(['config', 'check', '-c', file])
    expect(r2.code).toBe(2)
    expect(r2.stderr).toMatch(/plugins\[0\] \(deny-list\)\.options\.deny: /)
    fs.writeFileSync(file, JSON.stringify({upstreams: [origin.url], storage: {dir: path.join(dir, 's')}, plugins: [denyList()]}))
    const ok = await runCli(['config', 'check', '-c', file])
    expect(ok.code, ok.stderr).toBe(0)
  }, 90_000)

  it('serve refuses to start with a plugin whose setup throws (exit 2, naming it)', async () => {
    const dir = makeTempDir()
    fs.writeFileSync(path.join(dir, 'throws.mjs'), 'export default {name: "throws", setup() { throw new Error("boom") }}\n')
    const file = path.join(dir, 'tavern.config.json')
    fs.writeFileSync(file, JSON.stringify({upstreams: [origin.url], listen: '127.0.0.1:0', socket: path.join(dir, 'sock'), storage: {dir: path.join(dir, 's')}, plugins: [{module: './throws.mjs'}]}))
    const r = await runCli(['serve', '-c', file], {timeoutMs: 30_000})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/plugins\[0\] \(throws\): setup failed: boom/)
  }, 60_000)
})
