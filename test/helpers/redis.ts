/**
 * A real redis-server for tests (the Debian package; .ci/run installs it): a free loopback port (redis has no
 * `--port 0`: bind 127.0.0.1:0 first, then hand the port over), no persistence, its own temp dir; `stop()` kills it
 * (SIGKILL: a crash, not a goodbye), `start()` brings it back on the same port, `close()` on teardown.
 *
 *   const redis = await startRedis()   // undefined (reason printed) when redis-server is missing
 *   describe.skipIf(!redisServerPath)('…', …)
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

function findRedisServer(): string | undefined {
  for (const p of [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server']) if (p && fs.existsSync(p)) return p
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], {encoding: 'utf8'})
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined
}

export const redisServerPath: string | undefined = findRedisServer()
if (!redisServerPath) console.warn('redis-server not found (apt-get install redis-server): the Redis-backed rate-limit tests are skipped')

export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly running: boolean
  /** Kill the server (SIGKILL) and wait until it is gone. */
  stop(): Promise<void>
  /** Start it again on the same port and wait until PING answers. */
  start(): Promise<void>
  /** Freeze it (SIGSTOP): connections stay open, commands hang. `resume()` thaws it. */
  freeze(): void
  resume(): void
  close(): Promise<void>
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

/** PING over a raw socket until +PONG (bounded). */
async function waitForPing(port: number, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1')
      let buf = ''
      const done = (v: boolean) => {
        sock.destroy()
        resolve(v)
      }
      sock.setTimeout(500, () => done(false))
      sock.on('error', () => done(false))
      sock.on('connect', () => sock.write('PING\r\n'))
      sock.on('data', (d) => {
        buf += d.toString()
        if (buf.includes('\r\n')) done(buf.startsWith('+PONG'))
      })
    })
    if (ok) return
    if (Date.now() > end) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export async function startRedis(): Promise<RedisServer | undefined> {
  if (!redisServerPath) return undefined
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-redis-'))
  const port = await freePort()
  let child: ChildProcess | undefined
  let log = ''

  const start = async () => {
    if (child) return
    const c = spawn(redisServerPath, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'], {stdio: ['ignore', 'pipe', 'pipe']})
    child = c
    c.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
    c.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
    c.on('error', () => {})
    c.once('exit', () => {
      if (child === c) child = undefined
    })
    try {
      await waitForPing(port)
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${log}`)
    }
  }

  const stop = async () => {
    const c = child
    if (!c) return
    const gone = new Promise<void>((r) => c.once('exit', () => r()))
    c.kill('SIGCONT')
    c.kill('SIGKILL')
    await gone
    child = undefined
  }

  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== undefined
    },
    stop,
    start,
    freeze: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async close() {
      await stop()
      fs.rmSync(dir, {recursive: true, force: true})
    },
  }
}
