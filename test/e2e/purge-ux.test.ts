// Purging as an operator does it (issue 19): a soft purge says `expired` (not "purged … bytesFreed 0"), a URL that
// matched nothing names the key looked up and the close keys that are stored, a bad line of a list is named, and
// `purge --list` shows the recent purges like Varnish's ban.list.
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type DaemonHandle, makeTempDir, runCli} from '../helpers/daemon.js'
import {startDaemon} from '../helpers/daemon.js'
import {type Origin, startOrigin, uniquePath} from '../helpers/origin.js'

let origin: Origin
let d: DaemonHandle
beforeAll(async () => {
  origin = await startOrigin()
  d = await startDaemon({upstream: origin.url})
}, 30_000)
afterAll(async () => {
  await d?.stop()
  await origin?.close()
}, 30_000)

const cli = (...args: string[]) => runCli([...args, '--socket', d.socket])

async function cached(p: string): Promise<void> {
  origin.route(p, {headers: {'Cache-Control': 'max-age=600'}, body: 'body'})
  expect((await d.request(p)).status).toBe(200)
}

describe('purge, as operators use it', () => {
  it('a soft data-plane PURGE answers expired, a hard one purged and bytesFreed', async () => {
    const p = uniquePath('ux-soft')
    await cached(p)
    const soft = await d.request(p, {method: 'PURGE'})
    expect(soft.status).toBe(200)
    expect(JSON.parse(soft.text)).toEqual({message: 'success', mode: 'expire', matched: 1, expired: 1})
    const hard = await d.request(p, {method: 'PURGE', headers: {'Purge-Type': 'file,hard'}})
    expect(JSON.parse(hard.text)).toEqual({message: 'success', mode: 'delete', matched: 1, purged: 1, bytesFreed: 4})
  })

  it('purge --expire --json carries expired; the text says marked expired', async () => {
    const p = uniquePath('ux-expire')
    await cached(p)
    const r = await cli('purge', '--expire', '--json', `${d.url}${p}`)
    expect(r.code).toBe(0)
    const body = JSON.parse(r.stdout) as {mode: string; expired: number; results: Array<{expired: number}>}
    expect(body).toMatchObject({mode: 'expire', expired: 1, bytesFreed: 0})
    expect(body.results[0]!.expired).toBe(1)
    const del = JSON.parse((await cli('purge', '--json', `${d.url}${p}`)).stdout) as {expired: number; purged: number}
    expect(del).toMatchObject({expired: 0, purged: 1})
  })

  it('a URL that is not cached names the key looked up and suggests the stored key with the port', async () => {
    const p = uniquePath('ux-port')
    await cached(p)
    // The key holds the Host clients sent (127.0.0.1:<port>); the operator typed the host without it.
    const r = await cli('purge', '--host', '127.0.0.1', p)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`not cached (looked up key http://127.0.0.1${p})`)
    expect(r.stdout).toContain(`did you mean http://${d.host}${p}?`)
    const json = JSON.parse((await cli('purge', '--json', '--host', '127.0.0.1', p)).stdout) as {results: Array<{key: string; suggestions?: string[]}>}
    expect(json.results[0]).toMatchObject({key: `http://127.0.0.1${p}`, suggestions: [`http://${d.host}${p}`]})
    // Nothing was purged by the slip.
    expect((JSON.parse((await cli('purge', '--json', `${d.url}${p}`)).stdout) as {purged: number}).purged).toBe(1)
  })

  it('a bad line in a purge list is named by file and line, and nothing is purged', async () => {
    const p = uniquePath('ux-list')
    await cached(p)
    const file = path.join(makeTempDir(), 'urls.txt')
    fs.writeFileSync(file, `# urls\n${d.url}${p}\n\nexample.com/no-scheme\n`)
    const r = await cli('purge', '--file', file)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`${file} line 4: not an absolute http(s) URL: "example.com/no-scheme"`)
    expect((JSON.parse((await cli('purge', '--json', `${d.url}${p}`)).stdout) as {purged: number}).purged).toBe(1)
  })

  it('purge --list shows the recent purges, newest first, in text and --json', async () => {
    const p = uniquePath('ux-hist')
    await cached(p)
    expect((await cli('purge', '--expire', `${d.url}${p}`)).code).toBe(0)
    expect((await d.request(p, {method: 'PURGE', headers: {'Purge-Type': 'file,hard'}})).status).toBe(200)
    const r = await cli('purge', '--list', '--json')
    expect(r.code).toBe(0)
    const l = JSON.parse(r.stdout) as {recorded: number; purges: Array<Record<string, unknown>>}
    expect(l.purges[0]).toMatchObject({source: 'PURGE', peer: '127.0.0.1', mode: 'delete', scope: 'url', target: `http://${d.host}${p}`, matched: 1, purged: 1, bytesFreed: 4})
    expect(l.purges[1]).toMatchObject({source: 'admin', mode: 'expire', scope: 'url', target: `http://${d.host}${p}`, matched: 1, purged: 1})
    expect(l.recorded).toBeGreaterThanOrEqual(2)
    const text = await cli('purge', '--list')
    const lines = text.stdout.split('\n')
    expect(lines[0]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT.*Z  PURGE from 127\\.0\\.0\\.1  delete  url http://${d.host.replace(/\./g, '\\.')}${p}  matched 1, 1 deleted`))
    expect(lines[1]).toContain('admin  expire  url')
    expect(lines[1]).toContain('1 marked expired')
  })

  it('inspect-key on an uncached URL says why: not storable (and the reason), purged, or unknown with close keys', async () => {
    const p = uniquePath('ux-nostore')
    origin.route(p, {headers: {'Cache-Control': 'no-store'}, body: 'n'})
    expect((await d.request(p)).status).toBe(200)
    const j = await cli('inspect-key', '--json', `${d.url}${p}`)
    expect(j.code).toBe(0)
    const body = JSON.parse(j.stdout) as {stored: boolean; notCached: {why: string; reason: string; status?: number}}
    expect(body.stored).toBe(false)
    expect(body.notCached).toMatchObject({why: 'not-storable', status: 200})
    expect(body.notCached.reason).toMatch(/no-store/)
    expect((await cli('inspect-key', `${d.url}${p}`)).stdout).toMatch(/^ {2}why {10}not storable: .*no-store.* \(origin answered 200\)/m)

    const gone = uniquePath('ux-gone')
    await cached(gone)
    expect((await cli('purge', `${d.url}${gone}`)).code).toBe(0)
    const purged = JSON.parse((await cli('inspect-key', '--json', `${d.url}${gone}`)).stdout) as {notCached: {why: string}}
    expect(purged.notCached.why).toBe('purged')

    const kept = uniquePath('ux-kept')
    await cached(kept)
    const unknown = JSON.parse((await cli('inspect-key', '--json', `http://127.0.0.1${kept}`)).stdout) as {notCached: {why: string; suggestions: string[]}}
    expect(unknown.notCached).toEqual(expect.objectContaining({why: 'unknown', suggestions: [`http://${d.host}${kept}`]}))
  })

  it('--cluster on a daemon without a cluster section: refused (exit 2), nothing purged', async () => {
    const p = uniquePath('ux-cluster')
    await cached(p)
    const r = await cli('purge', `${d.url}${p}`, '--cluster')
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/not part of a cluster/)
    expect((await d.request(p)).header('cache-status')).toMatch(/hit/)
  })
})
