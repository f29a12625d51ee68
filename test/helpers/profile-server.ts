/**
 * A small stand-in daemon for the `tavern profile` tests, run as its own process (`node --import tsx
 * test/helpers/profile-server.ts SOCKET`): the real AdminRouter on a Unix socket with the profile routes mounted,
 * plus `POST /test/spin {ms}`, which keeps the thread busy in named functions (one of them the real Stats recorder)
 * for that long, so a profile taken meanwhile has something to find, and `GET /test/running` (the profile being
 * taken). Prints `ready` when it listens.
 */
import http from 'node:http'

import {AdminRouter, readJson, sendJson} from '../../src/admin/http.js'
import {Profiler} from '../../src/ops/profile.js'
import {profileRoutes} from '../../src/ops/profile-routes.js'
import {Stats} from '../../src/stats/recorder.js'

const socket = process.argv[2]
if (!socket) throw new Error('usage: profile-server.ts SOCKET')

const stats = new Stats()

/** Pure-JS work with a name the test looks for. */
export function hotLoopForProfileTest(n: number): number {
  let acc = 0
  for (let i = 1; i < n; i++) acc = (acc + Math.sqrt(i) * Math.sin(i)) % 1e9
  return acc
}

function recordTraffic(n: number): void {
  for (let i = 0; i < n; i++) stats.requestFinished({outcome: i % 10 === 0 ? 'miss' : 'hit', status: 200, bytesOut: 1024, durationMs: 0.2 + (i % 7), key: `http://t/k/${i % 300}`})
  stats.snapshot()
}

async function spin(ms: number): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    hotLoopForProfileTest(200_000)
    recordTraffic(2000)
    // Yield, so the profile's own timer and the admin socket are served meanwhile.
    await new Promise((r) => setImmediate(r))
  }
}

const profiler = new Profiler()
const routes = profileRoutes(profiler)
const router = new AdminRouter()
router.on('POST', '/profile/cpu', routes.cpu)
router.on('POST', '/profile/heap', routes.heap)
router.on('POST', '/profile/top', routes.top)
router.on('POST', '/test/spin', async (req, res) => {
  const {ms} = await readJson<{ms?: number}>(req)
  await spin(Math.min(10_000, ms ?? 1000))
  sendJson(res, 200, {ok: true})
})

router.on('GET', '/test/running', (_req, res) => sendJson(res, 200, {running: profiler.running ?? null}))

const server = http.createServer((req, res) => void router.handle(req, res))
server.on('error', (e) => {
  process.stderr.write(`profile-server: ${e.message}\n`)
  process.exit(1)
})
server.listen(socket, () => process.stdout.write('ready\n'))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
