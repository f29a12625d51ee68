// Start the processes a scenario needs: the origin / bare server (bench/origin.mjs) and `tavern serve`.
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'

import {BENCH_DIR, CORES, REPO, RUN_JS, adminGet, makeTmpDir, pinnedCommand, removeTmpDir, stopChild, track} from './common.mjs'

/** Wait for a line on `stream` that satisfies `test`; keeps the last lines for error messages. */
function waitForLine(child, stream, test, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const last = []
    const rl = readline.createInterface({input: stream})
    let done = false
    const finish = (err, v) => {
      if (done) return
      done = true
      clearTimeout(t)
      if (err) reject(err)
      else resolve(v)
    }
    const t = setTimeout(() => finish(new Error(`${what}: not ready after ${timeoutMs} ms; last output:\n${last.join('\n')}`)), timeoutMs)
    rl.on('line', (line) => {
      if (done) return // keep draining the pipe so the child never blocks on stdout
      last.push(line)
      if (last.length > 20) last.shift()
      const v = test(line)
      if (v) finish(null, v)
    })
    child.once('exit', (code, sig) => finish(new Error(`${what} exited (${code ?? sig}) before it was ready; last output:\n${last.join('\n')}`)))
  })
}

/** Start bench/origin.mjs in `mode` ('origin' | 'bare') on the server core. */
export async function startOrigin(mode, {manyKeys = 10_000, core = CORES.server, nodeArgs = []} = {}) {
  const [cmd, args] = pinnedCommand(core, process.execPath, [...nodeArgs, path.join(BENCH_DIR, 'origin.mjs'), mode, String(manyKeys)])
  const child = track(spawn(cmd, args, {stdio: ['pipe', 'pipe', 'inherit']}))
  const ready = await waitForLine(child, child.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : undefined), 20_000, `${mode} server`)
  let stopping = false
  child.once('exit', (code, sig) => {
    if (!stopping) process.stderr.write(`bench: the ${mode} server (pid ${child.pid}) exited unexpectedly (${code ?? sig})\n`)
  })
  return {
    child,
    pid: child.pid,
    port: ready.port,
    url: `http://127.0.0.1:${ready.port}`,
    stop: () => {
      stopping = true
      return stopChild(child)
    },
  }
}

/**
 * Start `node bin/run.js serve` on the server core, listening on 127.0.0.1:0. Resolves once the
 * "tavern ready" log line appeared, with readyMs = time from spawn to that line.
 * opts: upstream (URL), storageDir (default: fresh temp dir, removed by stop()), config (object written to a JSON file),
 * nodeArgs (e.g. ['--cpu-prof']), logLevel, runJs (the bin/run.js of another build, e.g. a git ref's; default this tree's),
 * listen (default 127.0.0.1:0; a cluster's nodes must know each other's ports before they start).
 */
export async function startDaemon({upstream, storageDir, config, nodeArgs = [], logLevel, listen = '127.0.0.1:0', core = CORES.server, readyTimeoutMs = 60_000, keepStorage = false, runJs = RUN_JS}) {
  const work = makeTmpDir('daemon')
  const ownStorage = storageDir === undefined
  const dir = storageDir ?? path.join(work, 'storage')
  const socket = path.join(work, 'admin.sock')
  const args = [...nodeArgs, runJs, 'serve', '--listen', listen, '--upstream', upstream, '--storage', dir, '--socket', socket]
  if (config) {
    const file = path.join(work, 'tavern.config.json')
    fs.writeFileSync(file, JSON.stringify(config))
    args.push('--config', file)
  }
  if (logLevel) args.push('--log-level', logLevel)
  const [cmd, a] = pinnedCommand(core, process.execPath, args)
  const t0 = performance.now()
  const child = track(spawn(cmd, a, {cwd: work, stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, TAVERN_SOCKET: socket}}))
  let stderr = ''
  child.stderr.on('data', (c) => {
    stderr = (stderr + c.toString()).slice(-4000)
  })
  let ready
  try {
    ready = await waitForLine(
      child,
      child.stdout,
      (l) => {
        if (!l.includes('"tavern ready"')) return undefined
        return JSON.parse(l)
      },
      readyTimeoutMs,
      'tavern serve',
    )
  } catch (err) {
    await stopChild(child)
    err.message += stderr ? `\nstderr:\n${stderr}` : ''
    throw err
  }
  const readyMs = performance.now() - t0
  let stopping = false
  child.once('exit', (code, sig) => {
    if (!stopping) process.stderr.write(`bench: tavern serve (pid ${child.pid}) exited unexpectedly (${code ?? sig}); stderr: ${stderr.slice(-500)}\n`)
  })
  const [host, port] = [ready.listen.slice(0, ready.listen.lastIndexOf(':')), Number(ready.listen.slice(ready.listen.lastIndexOf(':') + 1))]
  return {
    child,
    pid: child.pid,
    port,
    host,
    url: `http://127.0.0.1:${port}`,
    socket,
    storageDir: dir,
    workDir: work,
    readyMs,
    status: () => adminGet(socket, '/status'),
    async stop() {
      stopping = true
      await stopChild(child, 15_000)
      if (ownStorage && !keepStorage) removeTmpDir(work)
      else if (!ownStorage) {
        // keep the caller's storage dir; remove only our socket/config dir
        removeTmpDir(work)
      }
    },
  }
}

export {REPO}
