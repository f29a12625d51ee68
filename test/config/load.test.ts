// Config errors that tell the operator what to fix: the YAML/JSON parser's reason with its line and column, and for an
// unknown key the key that was probably meant.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {ConfigError, loadConfig} from '../../src/config/load.js'
import {editDistance, suggestKeys} from '../../src/config/suggest.js'
import {ConfigSchema} from '../../src/config/schema.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-config-'))
afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

function file(name: string, content: string): string {
  const f = path.join(dir, name)
  fs.writeFileSync(f, content)
  return f
}

async function problems(name: string, content: string): Promise<string[]> {
  const e = await loadConfig({file: file(name, content)}).then(() => undefined, (error: unknown) => error)
  expect(e).toBeInstanceOf(ConfigError)
  return (e as ConfigError).problems
}

describe('parse errors keep the parser\'s reason', () => {
  it('YAML: the reason with line:column and the code frame, not just "YAML Error in …:"', async () => {
    const p = await problems('bad.yaml', 'listen: 127.0.0.1:8080\nstorage:\n  dir: /tmp/x\n maxDiskBytes: 1GiB\n')
    expect(p).toHaveLength(1)
    expect(p[0]).toMatch(/^cannot read config: bad indentation of a mapping entry \(4:2\)\n/)
    expect(p[0]).toContain(' 4 |  maxDiskBytes: 1GiB')
    expect(p[0]).not.toContain('YAML Error in')
  })

  it('JSON: the reason and one code frame, without the copy of the whole file', async () => {
    const p = await problems('bad.json', '{"listen": "x",\n  "storage": {,}}')
    expect(p[0]).toMatch(/^cannot read config: Expected property name or '\}' in JSON at position 30\n/)
    expect(p[0]).toContain('> 2 |   "storage": {,}}')
    expect(p[0]).not.toContain('while parsing')
    expect(p[0].split('> 2 |')).toHaveLength(2)
  })
})

describe('unknown keys: did you mean', () => {
  it('a near miss at the same level (one letter off, case, underscores)', async () => {
    const p = await problems('near.json', JSON.stringify({storage: {maxDiskByte: 1, max_disk_bytes: 2}, lsten: '127.0.0.1:1', cache: {sites: {a: {qury: 'sort'}}}, upstreams: [{url: 'http://x', wieght: 2}]}))
    expect(p).toContain('storage.maxDiskByte: unknown key; did you mean storage.maxDiskBytes?')
    expect(p).toContain('storage.max_disk_bytes: unknown key; did you mean storage.maxDiskBytes?')
    expect(p).toContain('lsten: unknown key; did you mean listen?')
    expect(p).toContain('cache.sites.a.qury: unknown key; did you mean cache.sites.a.query?')
    expect(p).toContain('upstreams[0].wieght: unknown key; did you mean upstreams[0].weight?')
  })

  it('upstream holding a list means upstreams; upstreams holding settings means upstream', async () => {
    expect(await problems('u1.json', JSON.stringify({upstream: ['http://127.0.0.1:3000']}))).toEqual([
      'upstream: Invalid input: expected object, received array; did you mean upstreams (the list of origin servers)? upstream holds connection settings',
    ])
    expect((await problems('u2.yaml', 'upstream: http://127.0.0.1:3000\n'))[0]).toContain('did you mean upstreams')
    expect((await problems('u3.json', JSON.stringify({upstreams: {connections: 4}})))[0]).toContain('did you mean upstream (connection settings)?')
  })

  it('a key at the wrong level, and aliases from other proxies', async () => {
    const p = await problems('level.json', JSON.stringify({maxDiskBytes: '1GiB', enabled: true, port: 8080, origins: ['http://x']}))
    expect(p).toContain('maxDiskBytes: unknown key; did you mean storage.maxDiskBytes?')
    expect(p).toContain('enabled: unknown key; did you mean cache.enabled, accessLog.enabled or dashboard.enabled?')
    expect(p).toContain('port: unknown key; did you mean listen?')
    expect(p).toContain('origins: unknown key; did you mean upstreams?')
  })

  it('nothing far-fetched', async () => {
    expect((await problems('far.json', JSON.stringify({foo: 1, storage: {zzz: 1}}))).sort()).toEqual(['foo: unknown key', 'storage.zzz: unknown key'])
    // (cache.ttl exists since #14: a root-level `ttl` rightly suggests it)
    expect(suggestKeys(ConfigSchema, [], 'tempo')).toEqual([])
  })

  it('edit distance counts an adjacent transposition as one edit', () => {
    expect(editDistance('stauts', 'status')).toBe(1)
    expect(editDistance('maxdiskbyte', 'maxdiskbytes')).toBe(1)
    expect(editDistance('abc', 'abc')).toBe(0)
    expect(editDistance('', 'abc')).toBe(3)
  })
})
