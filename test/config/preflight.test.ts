// The checks serve makes before it binds anything (and `config check` makes too): each failing case names its key,
// and checking creates nothing.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, expect, it} from 'vitest'

import {validateConfig} from '../../src/config/load.js'
import {preflight} from '../../src/config/preflight.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-preflight-'))
afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

const config = (raw: Record<string, unknown>) => validateConfig({upstreams: ['http://127.0.0.1:3000'], storage: {dir: path.join(dir, 'store')}, ...raw}, 'test')

it('a good config has no problems, and checking it creates nothing', async () => {
  const store = path.join(dir, 'fresh', 'store')
  expect(await preflight(config({storage: {dir: store}, accessLog: {enabled: true, path: path.join(dir, 'access.log')}}), {socket: {path: path.join(dir, 'sock', 'a.sock'), isDefault: false}})).toEqual([])
  expect(fs.existsSync(path.join(dir, 'fresh'))).toBe(false)
  expect(fs.existsSync(path.join(dir, 'access.log'))).toBe(false)
  expect(fs.existsSync(path.join(dir, 'sock'))).toBe(false)
  expect(fs.readdirSync(dir).filter((n) => n.startsWith('.tavern-check'))).toEqual([])
})

it('no upstreams', async () => {
  expect(await preflight(config({upstreams: []}))).toEqual(['upstreams: no upstream configured: pass --upstream URL or set "upstreams" in the config'])
})

it('storage.dir that cannot be created (/proc/nope), or is a file', async () => {
  expect(await preflight(config({storage: {dir: '/proc/nope'}}))).toEqual(['storage.dir: cannot create /proc/nope: ENOENT (no such file or directory)'])
  const f = path.join(dir, 'a-file')
  fs.writeFileSync(f, '')
  expect(await preflight(config({storage: {dir: f}}))).toEqual([`storage.dir: ${f} is not a directory`])
  expect(await preflight(config({storage: {dir: path.join(f, 'below')}}))).toEqual([`storage.dir: cannot create ${path.join(f, 'below')}: ${f} is not a directory`])
})

it('storage.dir whose sub-directory is a file', async () => {
  const store = path.join(dir, 'broken-store')
  fs.mkdirSync(store)
  fs.writeFileSync(path.join(store, 'objects'), '')
  expect(await preflight(config({storage: {dir: store}}))).toEqual([`storage.dir: ${path.join(store, 'objects')} is not a directory`])
})

it('an access log in a directory that does not exist, or that is a directory', async () => {
  const missing = path.join(dir, 'no-such-dir', 'access.log')
  expect(await preflight(config({accessLog: {enabled: true, path: missing}}))).toEqual([
    `accessLog.path: the directory ${path.dirname(missing)} does not exist (the access log does not create directories)`,
  ])
  expect(await preflight(config({accessLog: {enabled: true, path: dir}}))).toEqual([`accessLog.path: ${dir} is a directory`])
  // Not enabled: not checked (serve does not open it either).
  expect(await preflight(config({accessLog: {enabled: false, path: missing}}))).toEqual([])
})

it('metrics.listen on the port of listen', async () => {
  expect(await preflight(config({listen: '0.0.0.0:8080', metrics: {listen: '127.0.0.1:8080'}}))).toEqual([
    'metrics.listen: 127.0.0.1:8080 is the same port as listen (0.0.0.0:8080); give the metrics listener a port of its own',
  ])
  expect(await preflight(config({listen: '127.0.0.1:8080', metrics: {listen: '127.0.0.2:8080'}}))).toEqual([])
  expect(await preflight(config({listen: '127.0.0.1:0', metrics: {listen: '127.0.0.1:0'}}))).toEqual([])
})

it('the admin socket: too long for bind(), something else in its place, a directory that is not private', async () => {
  const long = path.join(dir, 'x'.repeat(110), 's.sock')
  expect(await preflight(config({}), {socket: {path: long, isDefault: false}})).toEqual([`socket: ${long} is too long for a Unix socket (${Buffer.byteLength(long)} bytes; at most 107)`])
  const file = path.join(dir, 'not-a-socket')
  fs.writeFileSync(file, '')
  expect(await preflight(config({}), {socket: {path: file, isDefault: false}})).toEqual([`socket: ${file} exists and is not a socket; serve refuses to replace it`])
  const open = path.join(dir, 'open-dir')
  fs.mkdirSync(open)
  fs.chmodSync(open, 0o777)
  expect(await preflight(config({}), {socket: {path: path.join(open, 's.sock'), isDefault: true}})).toEqual([
    `socket: socket directory ${open} is writable by others (mode 777); refusing to use it: chmod 700 it, or remove it (or use --socket / TAVERN_SOCKET for another path)`,
  ])
})

it('every problem at once, each naming its key', async () => {
  const p = await preflight(config({upstreams: [], storage: {dir: '/proc/nope'}, accessLog: {enabled: true, path: path.join(dir, 'missing', 'a.log')}}))
  expect(p.map((x) => x.slice(0, x.indexOf(':')))).toEqual(['upstreams', 'storage.dir', 'accessLog.path'])
})

it.skipIf(process.getuid?.() !== 0)('a path that cannot even be looked at is reported, not thrown (as a non-root user)', async () => {
  const {spawnSync} = await import('node:child_process')
  const locked = path.join(dir, 'locked')
  fs.mkdirSync(path.join(locked, 'inner'), {recursive: true})
  fs.chmodSync(locked, 0o700)
  fs.chmodSync(dir, 0o755)
  const script = `
    import {validateConfig} from ${JSON.stringify(path.resolve('src/config/load.ts'))}
    import {preflight} from ${JSON.stringify(path.resolve('src/config/preflight.ts'))}
    const c = validateConfig({upstreams: ['http://127.0.0.1:1'], storage: {dir: ${JSON.stringify(path.join(locked, 'inner', 'store'))}}}, 'x')
    console.log(JSON.stringify(await preflight(c)))
  `
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {uid: 65534, gid: 65534, encoding: 'utf8', cwd: process.cwd()})
  expect(r.status, r.stderr).toBe(0)
  expect(JSON.parse(r.stdout)).toEqual([`storage.dir: cannot check ${path.join(locked, 'inner', 'store')}: EACCES (permission denied)`])
})
