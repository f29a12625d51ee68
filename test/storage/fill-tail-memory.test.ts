// Tail readers of a small fill are fed from the chunks the writer holds for the memory tier: no file descriptor is
// opened for them, they get bytes before those reach the disk, and a body that outgrows the memory capture limit
// mid-read continues from the file, byte-identical.
import fs from 'node:fs'
import path from 'node:path'

import {afterEach, beforeEach, expect, it} from 'vitest'

import {Storage} from '../../src/storage/store.js'
import {meta, options, randomBody, readAll, tempDir} from './helpers.js'

let dir: string
let s: Storage

/** Descriptors this process holds on files under `d` (Linux /proc). */
function openUnder(d: string): string[] {
  const out: string[] = []
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`)
      if (target.startsWith(d + path.sep)) out.push(target)
    } catch {
      // closed meanwhile
    }
  }
  return out
}

beforeEach(async () => {
  dir = tempDir()
  s = await Storage.open(options(dir, {maxMemoryBytes: 1 << 20, memoryMaxObjectBytes: 64 * 1024}))
})
afterEach(async () => {
  await s.close()
  fs.rmSync(dir, {recursive: true, force: true})
})

it('a tail reader of a small fill reads from memory: bytes before the disk has them, and no descriptor of its own', async () => {
  const w = s.beginFill('http://h/small', '')
  const body = randomBody(10_000)
  const tail = w.tail()
  const got: Buffer[] = []
  tail.on('data', (c: Buffer) => got.push(c))
  w.write(body.subarray(0, 4000))
  // Delivered from memory in the same turn of the event loop (the write to the temp file is still in flight).
  await new Promise((r) => setImmediate(r))
  expect(Buffer.concat(got).equals(body.subarray(0, 4000))).toBe(true)
  w.write(body.subarray(4000))
  const fdsBefore = openUnder(dir).filter((p) => !p.includes(`${path.sep}index${path.sep}`) && !p.endsWith('.lock'))
  // Only the writer's own temp file is open (the tail reader opened nothing).
  expect(fdsBefore.length).toBeLessThanOrEqual(1)
  const done = new Promise<void>((resolve, reject) => {
    tail.on('end', resolve)
    tail.on('error', reject)
  })
  const rec = await w.commit(meta('http://h/small', {expectedLength: body.length}))
  expect(rec).not.toBeNull()
  await done
  expect(Buffer.concat(got).equals(body)).toBe(true)
  // A reader made after the commit is served from memory as well, from any offset.
  expect((await readAll(w.tail(9_000))).equals(body.subarray(9_000))).toBe(true)
})

it('a body that outgrows the memory capture limit while being tailed continues from the file, byte-identical', async () => {
  const w = s.beginFill('http://h/grows', '')
  const body = randomBody(300_000, 7)
  const tail = readAll(w.tail())
  const fromMiddle = w.tail(1000)
  for (let i = 0; i < body.length; i += 16_384) {
    w.write(body.subarray(i, Math.min(body.length, i + 16_384)))
    if (i === 32_768) await new Promise((r) => setTimeout(r, 5))
  }
  const rec = await w.commit(meta('http://h/grows', {expectedLength: body.length}))
  expect(rec).not.toBeNull()
  expect((await tail).equals(body)).toBe(true)
  expect((await readAll(fromMiddle)).equals(body.subarray(1000))).toBe(true)
})

it('an aborted small fill makes its memory-fed tail readers error', async () => {
  const w = s.beginFill('http://h/abort-small', '')
  const tail = w.tail()
  const result = readAll(tail).then(
    () => 'ended',
    () => 'errored',
  )
  w.write(Buffer.from('partial'))
  w.abort(new Error('origin went away'))
  expect(await result).toBe('errored')
})
