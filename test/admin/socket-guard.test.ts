// Admin socket creation: 0600 from the moment bind() creates it (whatever the umask), and the default socket's
// directory accepted only when it is ours alone.
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'

import {afterAll, afterEach, expect, it} from 'vitest'

import {ensurePrivateDir, listenOwnerOnly, SocketDirError} from '../../src/admin/socket-guard.js'

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-guard-'))
const servers: http.Server[] = []
const umask = process.umask()
afterEach(async () => {
  process.umask(umask)
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})
afterAll(() => fs.rmSync(root, {recursive: true, force: true}))

const modeOf = (p: string) => fs.lstatSync(p).mode & 0o777

it('under umask 000, a plain listen() creates the socket 0777 (the window a later chmod leaves)', async () => {
  process.umask(0)
  const s = http.createServer()
  servers.push(s)
  const p = path.join(root, 'plain.sock')
  s.listen(p)
  expect(modeOf(p)).toBe(0o777)
})

it('listenOwnerOnly: the socket is 0600 as soon as it exists, and the umask is restored', async () => {
  process.umask(0)
  const s = http.createServer()
  servers.push(s)
  const p = path.join(root, 'owner.sock')
  const listening = listenOwnerOnly(s, p)
  // bind() ran synchronously inside the call: this is the first moment anyone could connect.
  expect(modeOf(p)).toBe(0o600)
  expect(process.umask()).toBe(0)
  await listening
  expect(modeOf(p)).toBe(0o600)
})

it('ensurePrivateDir creates the directory 0700, and accepts it again', async () => {
  const d = path.join(root, 'fresh')
  await ensurePrivateDir(d)
  expect(modeOf(d)).toBe(0o700)
  await ensurePrivateDir(d)
})

it('ensurePrivateDir refuses a symlink, a file, and a group- or world-writable directory', async () => {
  const target = path.join(root, 'target')
  fs.mkdirSync(target, {mode: 0o700})
  const link = path.join(root, 'link')
  fs.symlinkSync(target, link)
  await expect(ensurePrivateDir(link)).rejects.toThrow(/not a directory \(a symlink\)/)
  const file = path.join(root, 'file')
  fs.writeFileSync(file, '')
  await expect(ensurePrivateDir(file)).rejects.toBeInstanceOf(SocketDirError)
  const open = path.join(root, 'open')
  fs.mkdirSync(open)
  fs.chmodSync(open, 0o770)
  await expect(ensurePrivateDir(open)).rejects.toThrow(/writable by others \(mode 770\)/)
})

it.skipIf(process.getuid?.() !== 0)('ensurePrivateDir refuses a directory another user owns (needs root to chown)', async () => {
  const d = path.join(root, 'theirs')
  fs.mkdirSync(d, {mode: 0o700})
  fs.chownSync(d, 65534, 65534)
  await expect(ensurePrivateDir(d)).rejects.toThrow(/belongs to uid 65534, not to us \(uid 0\)/)
})
