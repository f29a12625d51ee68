// The daemon log for journald and people: the level as a name plus its syslog priority (not pino's 30/40/50), and
// under systemd (stdout is the stream JOURNAL_STREAM names) each line prefixed <N> so journald records the priority.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, expect, it} from 'vitest'

import {LogDestination} from '../../src/daemon/log-destination.js'
import {createLogger, fatalLine, isJournalStream} from '../../src/daemon/logger.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-logger-'))
afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

function sink(name: string) {
  const file = path.join(dir, name)
  const fd = fs.openSync(file, 'w')
  const st = fs.fstatSync(fd, {bigint: true})
  return {fd, dest: new LogDestination(fd), journalEnv: {JOURNAL_STREAM: `${st.dev}:${st.ino}`}, read: () => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)}
}

it('levels are names with a syslog priority, not numbers', async () => {
  const s = sink('plain.log')
  const log = createLogger('debug', s.dest, {journal: false})
  log.debug('d')
  log.info({x: 1}, 'i')
  log.warn('w')
  log.error('e')
  log.child({part: 'c'}).fatal('f')
  expect(await s.dest.drain(2000)).toBe(true)
  const lines = s.read().map((l) => JSON.parse(l) as Record<string, unknown>)
  expect(lines.map((l) => [l.level, l.priority, l.msg])).toEqual([
    ['debug', 7, 'd'],
    ['info', 6, 'i'],
    ['warn', 4, 'w'],
    ['error', 3, 'e'],
    ['fatal', 2, 'f'],
  ])
  expect(lines[1]).toMatchObject({x: 1, pid: process.pid})
  fs.closeSync(s.fd)
})

it('JOURNAL_STREAM is believed only for the stream it names', () => {
  const s = sink('detect.log')
  const other = sink('other.log')
  expect(isJournalStream(s.fd, s.journalEnv)).toBe(true)
  expect(isJournalStream(other.fd, s.journalEnv)).toBe(false)
  expect(isJournalStream(s.fd, {})).toBe(false)
  expect(isJournalStream(s.fd, {JOURNAL_STREAM: 'garbage'})).toBe(false)
  fs.closeSync(s.fd)
  fs.closeSync(other.fd)
})

it('on the journal stream each line starts with its <priority>, and stays one JSON document after it', async () => {
  const s = sink('journal.log')
  const log = createLogger('info', s.dest, {journal: isJournalStream(s.fd, s.journalEnv)})
  log.info('ready')
  log.warn({n: 2}, 'careful')
  log.error({err: new Error('multi\nline')}, 'failed')
  expect(await s.dest.drain(2000)).toBe(true)
  const lines = s.read()
  expect(lines.map((l) => l.slice(0, 3))).toEqual(['<6>', '<4>', '<3>'])
  for (const l of lines) expect(() => JSON.parse(l.slice(3)) as unknown).not.toThrow()
  expect(JSON.parse(lines[1]!.slice(3))).toMatchObject({level: 'warn', priority: 4, n: 2, msg: 'careful'})
  fs.closeSync(s.fd)
})

it('the last-resort fatal line has the same shape (and the prefix on a journal stream)', () => {
  const s = sink('fatal.log')
  const saved = process.env.JOURNAL_STREAM
  try {
    process.env.JOURNAL_STREAM = s.journalEnv.JOURNAL_STREAM
    const line = fatalLine('ending', {err: new Error('boom'), exit: 'SIGKILL'}, s.fd)
    expect(line.startsWith('<2>{')).toBe(true)
    expect(JSON.parse(line.slice(3))).toMatchObject({level: 'fatal', priority: 2, exit: 'SIGKILL', msg: 'ending', err: {type: 'Error', message: 'boom'}})
    expect(JSON.parse(fatalLine('plain'))).toMatchObject({level: 'fatal', priority: 2, msg: 'plain'})
  } finally {
    if (saved === undefined) delete process.env.JOURNAL_STREAM
    else process.env.JOURNAL_STREAM = saved
    fs.closeSync(s.fd)
  }
})
