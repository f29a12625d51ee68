// The periodic touch flush decides from its own entries what is due: a key whose LRU minute bucket moved is written
// (hits and lastAccess reach the index), one whose bucket did not stays pending, and a record replaced meanwhile is
// never written with the old record's counts.
import fs from 'node:fs'

import {afterEach, beforeEach, expect, it} from 'vitest'

import {Storage} from '../../src/storage/store.js'
import {options, put, tempDir} from './helpers.js'

let dir: string
let s: Storage

beforeEach(async () => {
  dir = tempDir()
  // The periodic flush is driven by the test (flushTouches(false)), not by the timer.
  s = await Storage.open(options(dir, {touchFlushIntervalMs: 3_600_000}))
})
afterEach(async () => {
  await s.close()
  fs.rmSync(dir, {recursive: true, force: true})
})

it('writes only keys whose LRU bucket moved; keeps the others pending', async () => {
  const fresh = (await put(s, 'http://h/fresh', 'a'))!
  const old = (await put(s, 'http://h/old', 'b'))!
  // A record last accessed two minutes ago: a hit now moves it to another bucket.
  const oldRec = {...old, lastAccess: Date.now() - 120_000}
  s.touch(fresh)
  s.touch(oldRec)
  s.touch(oldRec)
  await s.flushTouches(false)
  expect(s.get('http://h/old', '')!.hits).toBe(2)
  expect(s.get('http://h/old', '')!.lastAccess).toBeGreaterThanOrEqual(old.lastAccess)
  // Same bucket: not written yet, but counted (inspect sees it) and written by a full flush.
  expect(s.get('http://h/fresh', '')!.hits).toBe(0)
  expect(s.accessInfo(s.get('http://h/fresh', '')!).hits).toBe(1)
  await s.flushTouches(true)
  expect(s.get('http://h/fresh', '')!.hits).toBe(1)
})

it('a record replaced since its touches is not given the old counts', async () => {
  const first = (await put(s, 'http://h/r', 'one'))!
  s.touch({...first, lastAccess: Date.now() - 120_000})
  await put(s, 'http://h/r', 'two')
  await s.flushTouches(false)
  const now = s.get('http://h/r', '')!
  expect(now.file).not.toBe(first.file)
  expect(now.hits).toBe(0)
})
