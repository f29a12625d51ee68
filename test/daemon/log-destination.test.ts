// The daemon's stdout destination: a reader that went away (EPIPE) stops the writing without an error or a hang, a
// reader that stalls (EAGAIN on a full non-blocking pipe) never blocks the event loop and loses nothing it can keep,
// and the last-words write gives up on a full pipe instead of spinning.
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, expect, it} from 'vitest'

import {LogDestination} from '../../src/daemon/log-destination.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-logdest-'))
afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

let n = 0
/** A FIFO with a non-blocking reader and writer (both ends open, nothing read yet). */
function pipe(): {reader: number; writer: number} {
  const p = path.join(dir, `fifo-${++n}`)
  execFileSync('mkfifo', [p])
  const reader = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  const writer = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
  return {reader, writer}
}

function readAll(fd: number): string {
  const chunks: Buffer[] = []
  const buf = Buffer.alloc(65_536)
  for (;;) {
    let got = 0
    try {
      got = fs.readSync(fd, buf)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break
      throw error
    }
    if (got === 0) break
    chunks.push(Buffer.from(buf.subarray(0, got)))
  }
  return Buffer.concat(chunks).toString('utf8')
}

it('lines arrive in order', async () => {
  const {reader, writer} = pipe()
  const d = new LogDestination(writer)
  for (let i = 0; i < 100; i++) d.write(`line ${i}\n`)
  expect(await d.drain(5000)).toBe(true)
  expect(readAll(reader)).toBe(Array.from({length: 100}, (_, i) => `line ${i}\n`).join(''))
  fs.closeSync(reader)
  fs.closeSync(writer)
})

it('a reader that went away (EPIPE): writing stops, nothing throws, drain and flush return', async () => {
  const {reader, writer} = pipe()
  fs.closeSync(reader)
  const d = new LogDestination(writer)
  d.write('first\n')
  d.write('second\n')
  expect(await d.drain(5000)).toBe(true)
  expect(d.broken).toBe('EPIPE')
  expect(d.write('later\n')).toBe(false)
  await new Promise<void>((resolve) => d.flush(() => resolve()))
  expect(d.writeFinalSync('last words\n', 100)).toBe(false)
  fs.closeSync(writer)
})

it('a stalled reader (full pipe): the event loop keeps running, lines wait, and arrive once it reads again', async () => {
  const {reader, writer} = pipe()
  const d = new LogDestination(writer)
  const line = `${'x'.repeat(199)}\n`
  for (let i = 0; i < 2000; i++) d.write(line) // 400 KB: several times a pipe's capacity
  let ticks = 0
  const ticker = setInterval(() => ticks++, 10)
  expect(await d.drain(300)).toBe(false)
  clearInterval(ticker)
  expect(ticks).toBeGreaterThan(0)
  expect(d.broken).toBeUndefined()
  let got = ''
  while (!d.idle) {
    got += readAll(reader)
    await new Promise((r) => setTimeout(r, 20))
  }
  got += readAll(reader)
  expect(got.length).toBe(2000 * 200)
  expect(got).toBe(line.repeat(2000))
  fs.closeSync(reader)
  fs.closeSync(writer)
})

it('last words on a full pipe give up within their budget instead of spinning', async () => {
  const {reader, writer} = pipe()
  const filler = Buffer.alloc(65_536, 0x61)
  for (;;) {
    try {
      fs.writeSync(writer, filler)
    } catch {
      break
    }
  }
  const d = new LogDestination(writer)
  expect(d.writeFinalSync('{"level":60}\n', 50)).toBe(false)
  fs.closeSync(reader)
  fs.closeSync(writer)
})

it('a stalled reader does not make memory grow without bound: beyond 16 MiB lines are dropped and counted', async () => {
  const {reader, writer} = pipe()
  const d = new LogDestination(writer)
  const line = `${'y'.repeat(1023)}\n`
  for (let i = 0; i < 17 * 1024; i++) d.write(line)
  expect(d.dropped).toBeGreaterThan(0)
  // Reader gone: the destination stops (EPIPE) before its descriptor is closed under it.
  fs.closeSync(reader)
  expect(await d.drain(5000)).toBe(true)
  fs.closeSync(writer)
})
