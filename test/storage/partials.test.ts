import fs from 'node:fs'

import {afterEach, describe, expect, it} from 'vitest'

import {Storage} from '../../src/storage/store.js'
import type {NewPartial} from '../../src/storage/types.js'
import {options, policy, tempDir} from '../storage/helpers.js'
import {waitFor} from '../helpers/wait.js'

const opened: Storage[] = []
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close()
})

async function open(): Promise<Storage> {
  const s = await Storage.open(options(tempDir()))
  opened.push(s)
  return s
}

async function newPartial(s: Storage, key: string, size = 250, sliceSize = 100): Promise<NewPartial & {path: string}> {
  const {file, path} = await s.newPartialFile(key, '')
  fs.writeFileSync(path, Buffer.alloc(size, 1))
  const now = Date.now()
  return {key, variant: '', url: key, statusText: 'OK', headers: ['Content-Length', String(size)], requestTime: now, responseTime: now, policy: policy({etag: '"e"'}), vary: [], size, sliceSize, file, path}
}

describe('partial records in storage', () => {
  it('counts present bytes in usage and becomes a complete object on the same file', async () => {
    const s = await open()
    const p = await newPartial(s, 'http://h/a')
    const seq = s.beginPartialFill()
    expect(await s.createPartial(p, seq)).not.toBeNull()
    expect(s.usage()).toMatchObject({partials: 1, diskBytes: 0})
    expect(await s.markPartial(p.key, '', p.file, [0, 2])).toBe(true)
    expect(s.usage().diskBytes).toBe(150)
    expect(await s.markPartial(p.key, '', p.file, [2, 1])).toBe(true)
    expect(s.usage().diskBytes).toBe(250)
    expect(await s.markPartial(p.key, '', 'other-file', [0])).toBe(false)
    const rec = await s.promotePartial(p.key, '', p.file, 1234)
    s.endPartialFill(seq)
    expect(rec).toMatchObject({size: 250, file: p.file, crc32c: 1234, status: 200})
    expect(s.getPartial(p.key, '')).toBeUndefined()
    expect(s.get(p.key, '')?.file).toBe(p.file)
    expect(s.usage()).toMatchObject({partials: 0, objects: 1, diskBytes: 250})
    expect(fs.existsSync(p.path)).toBe(true)
  })

  it('purge removes partial records and their files; a fill that began before a purge cannot create one', async () => {
    const s = await open()
    const a = await newPartial(s, 'http://h/dir/a')
    const seqA = s.beginPartialFill()
    await s.createPartial(a, seqA)
    await s.markPartial(a.key, '', a.file, [0])
    s.endPartialFill(seqA)
    const r = await s.purgePrefix('http://h/dir/', 'delete')
    expect(r).toMatchObject({matched: 1, purged: 1, bytesFreed: 100})
    expect(s.getPartial(a.key, '')).toBeUndefined()
    await waitFor(() => !fs.existsSync(a.path), {message: 'the purged partial body file deleted'})
    expect(s.usage()).toMatchObject({partials: 0, diskBytes: 0})

    const b = await newPartial(s, 'http://h/b')
    const seqB = s.beginPartialFill()
    await s.purgeKey(b.key, 'expire')
    expect(await s.createPartial(b, seqB)).toBeNull()
    s.endPartialFill(seqB)
    expect(s.usage().partials).toBe(0)
  })

  it('a complete fill replaces the partial object of the same key', async () => {
    const s = await open()
    const p = await newPartial(s, 'http://h/c')
    const seq = s.beginPartialFill()
    await s.createPartial(p, seq)
    s.endPartialFill(seq)
    const w = s.beginFill(p.key, '')
    w.write(Buffer.from('hello'))
    const now = Date.now()
    const rec = await w.commit({url: p.key, status: 200, statusText: 'OK', headers: [], requestTime: now, responseTime: now, policy: policy()})
    expect(rec?.size).toBe(5)
    expect(s.getPartial(p.key, '')).toBeUndefined()
    expect(s.usage()).toMatchObject({partials: 0, objects: 1, diskBytes: 5})
  })
})
