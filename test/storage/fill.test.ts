import fs from 'node:fs'
import path from 'node:path'

import {crc32c} from '@node-rs/crc32'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {Storage} from '../../src/storage/store.js'
import {waitFor} from '../helpers/wait.js'
import {meta, options, put, randomBody, readAll, sleep, tempDir} from './helpers.js'

let dir: string
let s: Storage

beforeEach(async () => {
  dir = tempDir()
  s = await Storage.open(options(dir))
})
afterEach(async () => {
  await s.close()
  fs.rmSync(dir, {recursive: true, force: true})
})

const tmpFiles = () => fs.readdirSync(path.join(dir, 'tmp'))

describe('fill + commit', () => {
  it('round-trips a body with its CRC32C, headers and vary record', async () => {
    const body = randomBody(300_000)
    const w = s.beginFill('http://h/a', 'accept-encoding=gzip')
    for (let i = 0; i < body.length; i += 7000) w.write(body.subarray(i, i + 7000))
    await w.drain()
    const rec = await w.commit(meta('http://h/a', {vary: ['accept-encoding'], expectedLength: body.length}))
    expect(rec).not.toBeNull()
    expect(rec!.size).toBe(body.length)
    expect(rec!.crc32c).toBe(crc32c(body))
    expect(rec!.hits).toBe(0)
    expect(rec!.invalidatedAt).toBeUndefined()
    expect(w.written).toBe(body.length)

    const got = s.get('http://h/a', 'accept-encoding=gzip')!
    expect(got).toMatchObject({key: 'http://h/a', variant: 'accept-encoding=gzip', status: 200, size: body.length, file: rec!.file})
    expect(got.headers).toEqual(['Content-Type', 'text/plain'])
    expect(s.getVary('http://h/a')).toEqual({key: 'http://h/a', names: ['accept-encoding'], variants: ['accept-encoding=gzip']})
    expect(s.variants('http://h/a').map((r) => r.variant)).toEqual(['accept-encoding=gzip'])
    expect(s.get('http://h/a', '')).toBeUndefined()

    expect((await readAll(s.readBody(got))).equals(body)).toBe(true)
    expect((await readAll(s.readBody(got, 1000, 1999))).equals(body.subarray(1000, 2000))).toBe(true)
    expect(fs.existsSync(s.bodyPath(got))).toBe(true)
    expect(s.bodyPath(got).startsWith(path.join(dir, 'objects'))).toBe(true)
    expect(await s.verifyBody(got)).toEqual({ok: true, actualCrc32c: crc32c(body), actualSize: body.length})
    expect(s.usage()).toMatchObject({objects: 1, diskBytes: body.length})
    expect(tmpFiles()).toEqual([])
  })

  it('stores an empty body', async () => {
    const rec = await put(s, 'http://h/empty', '', {expectedLength: 0})
    expect(rec!.size).toBe(0)
    expect((await readAll(s.readBody(rec!))).length).toBe(0)
  })

  it('a refill replaces the record, uses a new file and deletes the old one', async () => {
    const a = (await put(s, 'http://h/r', 'one'))!
    const b = (await put(s, 'http://h/r', 'two!'))!
    expect(b.file).not.toBe(a.file)
    expect(s.get('http://h/r', '')!.file).toBe(b.file)
    await waitFor(() => !fs.existsSync(s.bodyPath(a)), {message: 'the replaced body file deleted'})
    expect(s.memoryBody(a)).toBeUndefined()
    expect(s.memoryBody(b)!.toString()).toBe('two!')
    expect(s.usage()).toMatchObject({objects: 1, diskBytes: 4})
  })

  it('refuses the commit on a length mismatch: nothing visible, temp file gone, tail errors', async () => {
    const w = s.beginFill('http://h/short', '')
    const tail = w.tail()
    const tailDone = readAll(tail).then(
      () => 'ended',
      () => 'errored',
    )
    w.write(Buffer.from('abc'))
    expect(await w.commit(meta('http://h/short', {expectedLength: 10}))).toBeNull()
    expect(s.get('http://h/short', '')).toBeUndefined()
    expect(s.getVary('http://h/short')).toBeUndefined()
    expect(await tailDone).toBe('errored')
    expect(tmpFiles()).toEqual([])
    expect(s.usage().objects).toBe(0)
  })

  it('abort stores nothing and makes tail readers error', async () => {
    const w = s.beginFill('http://h/abort', '')
    w.write(Buffer.from('partial'))
    const tail = w.tail()
    const err = readAll(tail).then(
      () => undefined,
      (e: Error) => e,
    )
    await sleep(20)
    w.abort(new Error('upstream reset'))
    w.abort(new Error('twice is fine'))
    expect((await err)?.message).toBe('upstream reset')
    expect(await w.commit(meta('http://h/abort'))).toBeNull()
    expect(s.get('http://h/abort', '')).toBeUndefined()
    await waitFor(() => tmpFiles().length === 0, {message: 'the aborted temp file deleted'})
  })

  it('a tail reader on a slow fill gets every byte in order and ends at commit', async () => {
    const body = randomBody(200_000, 7)
    const w = s.beginFill('http://h/slow', '')
    const early = readAll(w.tail())
    const fromMiddle = readAll(w.tail(50_000))
    let late: Promise<Buffer> | undefined
    for (let i = 0; i < body.length; i += 10_000) {
      w.write(body.subarray(i, i + 10_000))
      if (i === 100_000) late = readAll(w.tail())
      await sleep(2)
    }
    const rec = await w.commit(meta('http://h/slow', {expectedLength: body.length}))
    expect(rec).not.toBeNull()
    expect((await early).equals(body)).toBe(true)
    expect((await fromMiddle).equals(body.subarray(50_000))).toBe(true)
    expect((await late!).equals(body)).toBe(true)
    // A tail opened after the commit reads the final file.
    expect((await readAll(w.tail(199_990))).equals(body.subarray(199_990))).toBe(true)
  })

  it('tail readers respect backpressure and do not leak listeners', async () => {
    const w = s.beginFill('http://h/bp', '')
    const tail = w.tail()
    const chunk = randomBody(64 * 1024, 3)
    for (let i = 0; i < 64; i++) {
      if (!w.write(chunk)) await w.drain()
    }
    await sleep(100)
    // Nobody reads: the reader buffered at most about its high-water mark, not the 4 MiB written.
    expect(tail.readableLength).toBeLessThanOrEqual(256 * 1024)
    const all = readAll(tail)
    await w.commit(meta('http://h/bp'))
    expect((await all).length).toBe(64 * chunk.length)
    expect(tail.listenerCount('data')).toBe(0)
  })

  it('tail readers still end normally after a commit refused by a purge', async () => {
    const w = s.beginFill('http://h/p', '')
    w.write(Buffer.from('hello '))
    const t = readAll(w.tail())
    await s.purgeKey('http://h/p', 'delete')
    w.write(Buffer.from('world'))
    expect(await w.commit(meta('http://h/p'))).toBeNull()
    expect((await t).toString()).toBe('hello world')
  })

  it('commit after close resolves null', async () => {
    const w = s.beginFill('http://h/late', '')
    w.write(Buffer.from('x'))
    await s.close()
    expect(await w.commit(meta('http://h/late'))).toBeNull()
    s = await Storage.open(options(dir))
    expect(s.get('http://h/late', '')).toBeUndefined()
  })
})
