// The storage directory with the real daemon: a second daemon on it is refused (naming the directory and the pid),
// a kill -9 leaves a stale lock that does not block the restart, orphan body files are reclaimed after the restart,
// and what the daemon writes is private (0700 directories, 0600 files).
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, expect, it} from 'vitest'

import {type DaemonHandle, makeTempDir, runCli, startDaemon} from '../helpers/daemon.js'
import {type Origin, sleep, startOrigin, uniquePath} from '../helpers/origin.js'

let origin: Origin

beforeAll(async () => {
  origin = await startOrigin()
}, 30_000)
afterAll(async () => {
  await origin?.close()
}, 30_000)

async function waitFor(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

function filesUnder(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, {withFileTypes: true})) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else out.push(p)
    }
  }
  walk(dir)
  return out
}

it('a second daemon on the same storage directory is refused; after kill -9 a restart takes the stale lock and reclaims orphans', async () => {
  const storageDir = path.join(makeTempDir(), 'storage')
  const p = uniquePath('sd')
  origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body: 'kept'})
  let d: DaemonHandle | undefined = await startDaemon({upstream: origin.url, storageDir})
  try {
    // A fixed Host: the restarted daemon listens on another port, and the port is part of the cache key.
    await d.request(p, {headers: {Host: 'cache.test'}})
    // Committed (not just renamed into objects/) before the crash.
    for (let i = 0; ; i++) {
      const ins = await d.admin(`/keys/inspect?url=${encodeURIComponent(`http://cache.test${p}`)}`)
      if (JSON.parse(ins.text).stored === true) break
      if (i > 200) throw new Error(`never stored: ${ins.text}`)
      await sleep(25)
    }

    // Another daemon (own socket and port) on the same storage: refused with a clear error, the first runs on.
    const other = path.join(makeTempDir(), 'other.sock')
    const r = await runCli(['serve', '--listen', '127.0.0.1:0', '--upstream', origin.url, '--storage', storageDir, '--socket', other], {timeoutMs: 20_000})
    expect(r.code, r.stderr).not.toBe(0)
    expect(r.stderr).toContain(`storage directory ${storageDir} is in use by another tavern (pid ${d.pid}`)
    expect(r.stdout).not.toContain('tavern ready')
    expect((await d.status()).storage.objects).toBe(1)

    // Private modes (whatever the umask): directories 0700, files 0600.
    for (const f of filesUnder(storageDir)) expect((fs.statSync(f).mode & 0o777).toString(8), f).toBe('600')
    expect((fs.statSync(storageDir).mode & 0o777).toString(8)).toBe('700')
    expect((fs.statSync(path.join(storageDir, 'objects')).mode & 0o777).toString(8)).toBe('700')

    await d.kill9()
    d = undefined
    // What a crash between a fill's rename and its commit leaves: a body no record names.
    const orphan = path.join(storageDir, 'objects', 'ee', 'ee', `${'e'.repeat(40)}-orphan`)
    fs.mkdirSync(path.dirname(orphan), {recursive: true})
    fs.writeFileSync(orphan, Buffer.alloc(10_000, 7))
    // The sweep leaves files changed within 2 s before start-up (file-system timestamp slack).
    await sleep(2100)

    d = await startDaemon({upstream: origin.url, storageDir})
    const dd = d
    await waitFor(() => dd.logLines().some((l) => l.msg === 'storage: took over a stale storage-directory lock'), 'the stale-lock log line', 5000)
    await waitFor(() => !fs.existsSync(orphan), 'the orphan to be reclaimed')
    // The sweep logs once its walk is over, after the unlink: wait for the line rather than race it.
    await waitFor(() => dd.logLines().some((l) => l.msg === 'storage: reclaimed orphan body files'), 'the reclaim log line', 10_000)
    const line = dd.logLines().find((l) => l.msg === 'storage: reclaimed orphan body files')
    expect(line).toMatchObject({files: 1, bytes: 10_000})
    // The committed object survived the crash and is still served from cache.
    const hit = await d.request(p, {headers: {Host: 'cache.test'}})
    expect(hit.text).toBe('kept')
    expect(origin.countFor(p)).toBe(1)
  } finally {
    await d?.stop()
  }
}, 90_000)

it('kill -9 during many fills: after the restart, every body file left in objects/ belongs to a stored object', async () => {
  const storageDir = path.join(makeTempDir(), 'storage')
  const body = Buffer.alloc(40_000, 3)
  const paths = Array.from({length: 3000}, () => uniquePath('crashfill'))
  for (const p of paths) origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body})
  let d: DaemonHandle | undefined = await startDaemon({upstream: origin.url, storageDir})
  try {
    // Fills complete all the time (concurrency 48) until the daemon is killed in the middle of them.
    let next = 0
    let stop = false
    const worker = async () => {
      while (!stop && next < paths.length) {
        const p = paths[next++]!
        await d!.request(p, {headers: {Host: 'cache.test'}, allowIncomplete: true, timeoutMs: 5000}).catch(() => undefined)
      }
    }
    const workers = Array.from({length: 48}, () => worker())
    await waitFor(() => next >= 1500, 'fills to be under way', 30_000)
    await d.kill9()
    d = undefined
    stop = true
    await Promise.all(workers)
    await sleep(2100) // the sweep leaves files changed within 2 s before start-up

    d = await startDaemon({upstream: origin.url, storageDir})
    const dd = d
    const objects = path.join(storageDir, 'objects')
    const st = await d.status()
    await waitFor(() => filesUnder(objects).length === st.storage.objects + Number(st.storage.partials ?? 0), `objects/ to hold only stored bodies (${st.storage.objects} objects)`, 20_000)
    expect(fs.readdirSync(path.join(storageDir, 'tmp'))).toEqual([])
    expect(dd.logs()).not.toMatch(/"level":"(error|fatal)"/)
  } finally {
    await d?.stop()
  }
}, 120_000)
