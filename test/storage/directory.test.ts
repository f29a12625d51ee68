// The storage directory: orphan body files reclaimed after a crash, the one-daemon lock, private file modes,
// and an index of an older (or newer) format.
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {open as openLmdb} from 'lmdb'
import {afterEach, describe, expect, it} from 'vitest'

import {LOCK_FILE, StorageLockedError} from '../../src/storage/dir-lock.js'
import {utf8KeyEncoder} from '../../src/storage/keys.js'
import {Storage} from '../../src/storage/store.js'
import type {StorageLog, StorageOptions} from '../../src/storage/store.js'
import {options, policy, put, readAll, sleep, tempDir} from './helpers.js'

const dirs: string[] = []
const stores: Storage[] = []

interface Line {
  level: string
  obj: Record<string, unknown>
  msg?: string
}
function captureLog(): StorageLog & {lines: Line[]} {
  const lines: Line[] = []
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({level, obj: obj as Record<string, unknown>, msg})
  return {lines, info: at('info'), warn: at('warn'), error: at('error')}
}

async function openStore(over: Partial<StorageOptions> = {}, dir = tempDir()): Promise<{s: Storage; dir: string}> {
  if (!dirs.includes(dir)) dirs.push(dir)
  const s = await Storage.open(options(dir, over))
  stores.push(s)
  return {s, dir}
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  for (const d of dirs.splice(0)) fs.rmSync(d, {recursive: true, force: true})
})

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await sleep(10)
  }
}

function bodyFiles(dir: string): string[] {
  const root = path.join(dir, 'objects')
  const out: string[] = []
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, {withFileTypes: true})) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else out.push(path.relative(root, p))
    }
  }
  walk(root)
  return out.sort()
}

const mode = (p: string) => fs.statSync(p).mode & 0o777

describe('orphan body files', () => {
  it('after a crash, files no record references are reclaimed in the background; referenced ones stay', async () => {
    const first = await openStore()
    const kept = (await put(first.s, 'http://h/kept', 'kept body'))!
    const dropped = (await put(first.s, 'http://h/dropped', 'dropped'))!
    await first.s.close()
    const dir = first.dir
    // A crash between rename and commit leaves a body in objects/ that no record names; one between a removal's
    // commit and the unlink leaves the removed record's file. Simulate both.
    const orphanA = 'ab/cd/' + 'a'.repeat(40) + '-crashed'
    fs.mkdirSync(path.join(dir, 'objects', 'ab', 'cd'), {recursive: true})
    fs.writeFileSync(path.join(dir, 'objects', orphanA), Buffer.alloc(5000, 1))
    const second = await openStore({}, dir)
    await second.s.purgeKey('http://h/dropped', 'delete')
    await second.s.close()
    fs.writeFileSync(path.join(dir, 'objects', dropped.file), 'resurrected by a crash before unlink')
    expect(bodyFiles(dir)).toEqual([orphanA, dropped.file, kept.file].sort())

    const log = captureLog()
    const {s} = await openStore({log, orphanSlackMs: 0}, dir)
    await s.startOrphanSweep()
    expect(bodyFiles(dir)).toEqual([kept.file])
    const line = log.lines.find((l) => l.msg === 'storage: reclaimed orphan body files')
    expect(line?.obj).toMatchObject({files: 2, bytes: 5000 + 'resurrected by a crash before unlink'.length})
    expect((await readAll(s.readBody(s.get('http://h/kept', '')!))).toString()).toBe('kept body')
  })

  it('never touches a body renamed in after open() (a fill between rename and commit), nor partial bodies', async () => {
    const {s, dir} = await openStore({orphanSlackMs: 0})
    await s.startOrphanSweep()
    const live = 'ef/01/' + 'b'.repeat(40) + '-inflight'
    fs.mkdirSync(path.join(dir, 'objects', 'ef', '01'), {recursive: true})
    fs.writeFileSync(path.join(dir, 'objects', live), 'being committed')
    const seq = s.beginPartialFill()
    const {file} = await s.newPartialFile('http://h/partial', '')
    await s.createPartial({key: 'http://h/partial', variant: '', url: 'http://h/partial', statusText: 'OK', headers: [], requestTime: Date.now(), responseTime: Date.now(), policy: policy(), vary: [], size: 10, sliceSize: 5, file}, seq)
    s.endPartialFill(seq)
    const rec = (await put(s, 'http://h/full', 'full'))!
    await s.startOrphanSweep()
    expect(bodyFiles(dir)).toEqual([live, file, rec.file].sort())
  })
})

describe('storage-directory lock', () => {
  it('a second open of the same directory is refused, naming the directory and the pid; after close it opens', async () => {
    const {s, dir} = await openStore()
    const err = await Storage.open(options(dir)).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(StorageLockedError)
    expect((err as Error).message).toContain(dir)
    expect((err as Error).message).toContain(String(process.pid))
    expect(s.usage().objects).toBe(0)
    await s.close()
    stores.splice(stores.indexOf(s), 1)
    await openStore({}, dir)
  })

  it('another live process holding the lock refuses the open; once it is gone (kill -9) the stale lock is taken over', async () => {
    const dir = tempDir()
    dirs.push(dir)
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {stdio: 'ignore'})
    const exited = new Promise((r) => child.once('exit', r))
    try {
      const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8')
      const startTicks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
      const owner = {pid: child.pid, host: os.hostname(), bootId: fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), startTicks, startedAt: new Date().toISOString()}
      fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(owner) + '\n')
      const err = await Storage.open(options(dir)).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(StorageLockedError)
      expect((err as Error).message).toContain(`pid ${child.pid}`)
      expect((err as Error).message).toContain(dir)
      // A pid that now belongs to another process (different start time) is stale too.
      fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({...owner, startTicks: '1'}) + '\n')
      const log = captureLog()
      const reused = await openStore({log}, dir)
      expect(log.lines.some((l) => l.msg === 'storage: took over a stale storage-directory lock')).toBe(true)
      await reused.s.close()
      stores.splice(stores.indexOf(reused.s), 1)
      fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(owner) + '\n')
    } finally {
      child.kill('SIGKILL')
      await exited
    }
    const log = captureLog()
    const {s} = await openStore({log}, dir)
    expect(log.lines.find((l) => l.msg === 'storage: took over a stale storage-directory lock')?.obj).toMatchObject({stalePid: child.pid, reason: 'its process is gone'})
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid)
    await s.close()
    stores.splice(stores.indexOf(s), 1)
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false)
  })

  it('an unreadable lock file (not just being written) is stale; leftovers of a starter that died are removed', async () => {
    const dir = tempDir()
    dirs.push(dir)
    const lock = path.join(dir, LOCK_FILE)
    const leftover = `${lock}.4242.abcdef`
    fs.writeFileSync(lock, 'garbage')
    fs.writeFileSync(leftover, 'a candidate nobody linked')
    const old = new Date(Date.now() - 3600_000)
    fs.utimesSync(lock, old, old)
    fs.utimesSync(leftover, old, old)
    const log = captureLog()
    await openStore({log}, dir)
    expect(log.lines.find((l) => l.msg === 'storage: took over a stale storage-directory lock')?.obj).toMatchObject({reason: 'unreadable lock file'})
    expect(fs.existsSync(leftover)).toBe(false)
    expect(fs.readdirSync(dir).filter((n) => n.startsWith(LOCK_FILE))).toEqual([LOCK_FILE])
  })

  it('other processes of the same daemon open without the lock (lock: false) and see the same objects', async () => {
    const {s, dir} = await openStore()
    await put(s, 'http://h/shared', 'shared')
    const worker = await openStore({lock: false}, dir)
    expect(worker.s.get('http://h/shared', '')?.key).toBe('http://h/shared')
  })
})

describe('file modes', () => {
  it('directories 0700 and files 0600 even under umask 000', async () => {
    const old = process.umask(0)
    try {
      const parent = tempDir()
      dirs.push(parent)
      const dir = path.join(parent, 'new', 'storage')
      const {s} = await openStore({}, dir)
      const rec = (await put(s, 'http://h/m', 'private'))!
      const partial = await s.newPartialFile('http://h/p', '')
      fs.writeFileSync(partial.path, 'x') // what a range fill does (open 'w+') keeps the mode of the created file
      const w = s.beginFill('http://h/tmp', '')
      w.write(Buffer.from('in flight'))
      await waitFor(() => w.written > 0)
      const tmp = fs.readdirSync(path.join(dir, 'tmp'))
      expect(tmp.length).toBe(1)
      for (const d of [path.join(parent, 'new'), dir, `${dir}/index`, `${dir}/objects`, `${dir}/tmp`, path.dirname(s.bodyPath(rec)), path.dirname(path.dirname(s.bodyPath(rec))), path.dirname(partial.path)]) {
        expect(mode(d).toString(8), d).toBe('700')
      }
      for (const f of [s.bodyPath(rec), partial.path, `${dir}/tmp/${tmp[0]}`, `${dir}/index/data.mdb`, `${dir}/index/lock.mdb`, `${dir}/${LOCK_FILE}`]) {
        expect(mode(f).toString(8), f).toBe('600')
      }
      w.abort(new Error('test done'))
    } finally {
      process.umask(old)
    }
  })
})

describe('index format', () => {
  it('an index of the old format (ordered-binary keys) starts empty, says so, and its bodies are reclaimed', async () => {
    const dir = tempDir()
    dirs.push(dir)
    fs.mkdirSync(path.join(dir, 'index'), {recursive: true})
    fs.mkdirSync(path.join(dir, 'objects', '12', '34'), {recursive: true})
    const oldFile = '12/34/' + 'c'.repeat(40) + '-old'
    fs.writeFileSync(path.join(dir, 'objects', oldFile), 'old body')
    const root = openLmdb({path: path.join(dir, 'index'), maxDbs: 8, compression: false})
    const objects = root.openDB({name: 'objects'})
    const long = 'http://h/' + 'o'.repeat(80)
    await objects.put(long + '\u0000', {key: long, variant: '', file: oldFile, size: 8})
    await root.openDB({name: 'meta'}).put('totals', {objects: 1, diskBytes: 8, evictions: 0, expiredRemoved: 0, partials: 0})
    await root.close()

    const log = captureLog()
    const {s} = await openStore({log, orphanSlackMs: 0}, dir)
    expect(log.lines.find((l) => l.level === 'warn' && /older format/.test(l.msg ?? ''))?.obj).toMatchObject({foundFormat: 1})
    expect(s.usage()).toMatchObject({objects: 0, diskBytes: 0})
    expect(s.get(long, '')).toBeUndefined()
    await s.startOrphanSweep()
    expect(bodyFiles(dir)).toEqual([])
    // The converted index is the current format: a restart does not reset it again.
    await put(s, long, 'new')
    await s.close()
    stores.splice(stores.indexOf(s), 1)
    const log2 = captureLog()
    const again = await openStore({log: log2}, dir)
    expect(again.s.get(long, '')?.key).toBe(long)
    expect(log2.lines.some((l) => /older format/.test(l.msg ?? ''))).toBe(false)
  })

  it('an index of a newer format is refused with a clear error (never emptied)', async () => {
    const first = await openStore()
    await put(first.s, 'http://h/newer', 'x')
    await first.s.close()
    stores.splice(stores.indexOf(first.s), 1)
    const root = openLmdb({path: path.join(first.dir, 'index'), maxDbs: 8, compression: false})
    const enc = {keyEncoder: utf8KeyEncoder}
    await root.openDB({name: 'meta', ...enc}).put('format', 99)
    await root.close()
    const err = await Storage.open(options(first.dir)).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((err as Error).message).toMatch(/format 99, newer than this tavern understands/)
    // The lock was released: once the format is fixed the directory opens again.
    expect(fs.existsSync(path.join(first.dir, LOCK_FILE))).toBe(false)
  })
})
