// POST /purge with very long URL lists: no recursion or argument-spreading limits (300,000 URLs used to answer
// `500 Maximum call stack size exceeded`), a documented maximum per request answered with 413, and the CLI sending a
// long --file list in batches.
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
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

const N = 300_000
const host = 'purge-big.tavern.test'

async function storeSome(count: number): Promise<string[]> {
  const urls: string[] = []
  for (let i = 0; i < count; i++) {
    const p = uniquePath('big')
    origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: `object ${i}`})
    const r = await d.request(p, {headers: {Host: host}})
    expect(r.header('cache-status')).toMatch(/stored/)
    urls.push(`http://${host}${p}`)
  }
  return urls
}

function bigList(stored: string[]): string[] {
  const urls = Array.from({length: N - stored.length}, (_, i) => `http://${host}/not-cached/${i}`)
  urls.splice(1000, 0, ...stored.slice(0, 2))
  urls.push(...stored.slice(2))
  return urls
}

it(`POST /purge with ${N.toLocaleString('en')} URLs answers 200 with every result`, async () => {
  const stored = await storeSome(3)
  const urls = bigList(stored)
  const r = await d.admin('/purge', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({urls}), timeoutMs: 240_000})
  expect(r.status, r.text.slice(0, 300)).toBe(200)
  const reply = JSON.parse(r.text) as {matched: number; purged: number; results: Array<{url: string; matched: number}>}
  expect(reply.results).toHaveLength(N)
  expect(reply.matched).toBe(3)
  expect(reply.purged).toBe(3)
  expect(reply.results.filter((x) => x.matched > 0).map((x) => x.url).sort()).toEqual([...stored].sort())
  for (const u of stored) expect((await d.request(new URL(u).pathname, {headers: {Host: host}})).header('cache-status')).toMatch(/uri-miss/)
}, 300_000)

it(`tavern purge --file with ${N.toLocaleString('en')} lines: sent in batches, one summary`, async () => {
  const stored = await storeSome(3)
  const file = path.join(makeTempDir(), 'urls.txt')
  fs.writeFileSync(file, bigList(stored).join('\n') + '\n')
  const r = await runCli(['purge', '--file', file, '--socket', d.socket], {timeoutMs: 240_000})
  expect(r.code, r.stderr).toBe(0)
  expect(r.stdout).toMatch(/purge: 3 matched, 3 deleted, .* freed \(299997 not cached\)/)
  // --json: the batches' replies merged into one document (three batches here).
  const shorter = path.join(path.dirname(file), 'shorter.txt')
  fs.writeFileSync(shorter, bigList([]).slice(0, 120_001).join('\n'))
  const json = await runCli(['purge', '--json', '--file', shorter, '--socket', d.socket], {timeoutMs: 240_000})
  expect(json.code, json.stderr).toBe(0)
  const reply = JSON.parse(json.stdout) as {matched: number; results: Array<{url: string}>}
  expect(reply.results).toHaveLength(120_001)
  expect(reply.results[120_000]!.url).toBe(`http://${host}/not-cached/120000`)
  expect(reply.matched).toBe(0)
}, 300_000)

it('more URLs than the documented maximum per request: 413 too_many_urls, nothing purged', async () => {
  const stored = await storeSome(1)
  const urls = [stored[0]!, ...Array.from({length: 1_000_000}, (_, i) => `http://h/${i}`)]
  const r = await d.admin('/purge', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({urls}), timeoutMs: 120_000})
  expect(r.status, r.text.slice(0, 300)).toBe(413)
  expect(JSON.parse(r.text).error.code).toBe('TAVERN_ERR_TOO_MANY_URLS')
  expect((await d.request(new URL(stored[0]!).pathname, {headers: {Host: host}})).header('cache-status')).toMatch(/hit/)
}, 180_000)
