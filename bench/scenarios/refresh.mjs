// Fuzzy refresh: 1,000 keys that expire at the same moment (one Expires for all, however long storing them takes),
// then read in a loop. With cache.fuzzy the origin's refresh (conditional) requests spread over the fuzzy window;
// without it they all come at expiry. Reports the largest 100 ms bucket against the mean over the window (the
// target: no bucket above 5× the mean with fuzzy).
import http from 'node:http'

import {fmt, request} from '../lib/common.mjs'
import {startDaemon} from '../lib/servers.mjs'

export const name = 'refresh'
export const title = 'Fuzzy refresh: 1,000 keys with one TTL, refresh requests per 100 ms (fuzzy 0.5 vs off)'

/** Seconds from the start of a run to the common expiry (storing 1,000 keys can take ~20 s on a loaded machine). */
const EXPIRE_AFTER = 30
const TTL = 30
const FUZZY = 0.5
const BUCKET_MS = 100

/** An origin whose 304s renew for TTL seconds; records when each conditional (refresh) request arrived. */
function startRefreshOrigin(expiresAt) {
  const refreshes = []
  const server = http.createServer((req, res) => {
    const date = new Date().toUTCString()
    if (req.headers['if-none-match'] === '"v"') {
      refreshes.push(Date.now())
      res.writeHead(304, {'cache-control': `max-age=${TTL}`, etag: '"v"', date}).end()
    } else res.writeHead(200, {expires: new Date(expiresAt).toUTCString(), etag: '"v"', date, 'content-length': '5'}).end('hello')
  })
  server.on('error', () => {})
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({server, refreshes, url: `http://127.0.0.1:${server.address().port}`})))
}

async function runOne(fuzzy, keys, expireAfter) {
  const d0 = Date.now()
  const expiresAt = Math.ceil((d0 + expireAfter * 1000) / 1000) * 1000
  const origin = await startRefreshOrigin(expiresAt)
  const d = await startDaemon({upstream: origin.url, config: {cache: {fuzzy}}})
  const agent = new http.Agent({keepAlive: true, maxSockets: 32})
  const get = (i) => request({host: '127.0.0.1', port: d.port, path: `/k/${i}`, agent}, {discard: true})
  try {
    const t0 = Date.now()
    const pool = async (fn) => {
      let next = 0
      await Promise.all(Array.from({length: 32}, async () => {
        while (next < keys) await fn(next++)
      }))
    }
    await pool(get)
    const storedIn = Date.now() - t0
    if (Date.now() > expiresAt - 2000) throw new Error(`storing ${keys} keys took ${storedIn} ms: too slow for the common expiry`)
    // Read every key in a loop until past the common expiry.
    const until = expiresAt + 2000
    let passes = 0
    while (Date.now() < until) {
      await pool(get)
      passes++
    }
    // The fuzzy window of the last key stored (the shortest lifetime) up to expiry and the pass after it.
    const windowStart = expiresAt - (expiresAt - (t0 + storedIn)) * FUZZY
    const windowEnd = expiresAt + 1000
    const counts = new Map()
    for (const at of origin.refreshes) {
      const b = Math.floor((at - windowStart) / BUCKET_MS)
      counts.set(b, (counts.get(b) ?? 0) + 1)
    }
    const buckets = Math.max(1, Math.ceil((windowEnd - windowStart) / BUCKET_MS))
    const mean = origin.refreshes.length / buckets
    const max = Math.max(0, ...counts.values())
    return {fuzzy, keys, storedInMs: storedIn, passes, refreshes: origin.refreshes.length, buckets, mean, maxBucket: max, maxOverMean: mean > 0 ? max / mean : 0}
  } finally {
    agent.destroy()
    await d.stop()
    origin.server.close()
  }
}

export async function run({quick, log}) {
  const keys = quick ? 300 : 1000
  const expireAfter = quick ? 15 : EXPIRE_AFTER
  const withFuzzy = await runOne(FUZZY, keys, expireAfter)
  log(`  fuzzy ${FUZZY}: ${withFuzzy.refreshes} refreshes, largest 100 ms bucket ${withFuzzy.maxBucket} = ${fmt(withFuzzy.maxOverMean)}× the mean over the window (stored in ${withFuzzy.storedInMs} ms, ${withFuzzy.passes} read passes)`)
  const without = await runOne(0, keys, expireAfter)
  log(`  fuzzy off: ${without.refreshes} revalidations, largest 100 ms bucket ${without.maxBucket} = ${fmt(without.maxOverMean)}× the mean over the same window`)
  log(`  target (fuzzy): no bucket above 5× the mean → ${withFuzzy.maxOverMean <= 5 ? 'met' : 'NOT met'}`)
  return {withFuzzy, without}
}
