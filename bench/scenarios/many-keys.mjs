// 2. Many keys: hits cycling over 10,000 distinct warm keys, against a bare server answering the same
// 10,000 paths from a Map.
import {fmt, getUntilHit, pool, request} from '../lib/common.mjs'
import {abRounds, ratioGoal, sideBySide} from '../lib/ab.mjs'
import {startDaemon, startOrigin} from '../lib/servers.mjs'

export const name = 'many'
export const title = 'Many keys (10,000 warm objects; quick: 1,000)'

/** Deterministic shuffle (so the key order is the same on every run). */
function shuffled(n) {
  const a = Array.from({length: n}, (_, i) => i)
  let s = 0x9e3779b9
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
    const j = s % (i + 1)
    ;[a[i], a[j]] = [a[j], a[i]]
  }
  return a
}

export async function run({quick, log}) {
  // quick mode warms 1,000 keys: filling 10,000 takes ~30 s on this box
  const keys = quick ? 1_000 : 10_000
  const rounds = quick ? 2 : 3
  const duration = quick ? 1.5 : 5
  const sideRounds = quick ? 2 : 5
  const sideDuration = quick ? 1.5 : 4
  const warmup = quick ? 0.3 : 1
  const connections = 32
  const origin = await startOrigin('origin')
  const bare = await startOrigin('bare', {manyKeys: keys})
  const daemon = await startDaemon({upstream: origin.url})
  try {
    const paths = shuffled(keys).map((i) => `/many/${i}`)
    const t0 = performance.now()
    await pool(keys, 64, (i) => request({host: '127.0.0.1', port: daemon.port, path: `/many/${i}`}, {discard: true}))
    const warmS = (performance.now() - t0) / 1000
    log(`  warmed ${keys} keys in ${fmt(warmS)} s (${fmt(keys / warmS, 0)} fills/s, 64 concurrent)`)
    // let batched commits settle, then check a sample
    for (let i = 0; i < 20; i++) {
      const st = await daemon.status()
      if (st.storage.objects >= keys) break
      await new Promise((r) => setTimeout(r, 100))
    }
    for (const i of [0, 1, 4999, 9999]) await getUntilHit(daemon.port, `/many/${i}`, {size: 1024})
    const s0 = await daemon.status()
    const variants = [
      {name: 'tavern', url: daemon.url, paths, serverPid: daemon.pid},
      {name: 'bare', url: bare.url, paths, serverPid: bare.pid},
    ]
    const label = `${keys / 1000}k keys`
    const res = await abRounds({label, variants, rounds, duration, warmup, connections, log})
    const side = await sideBySide({label, variants, rounds: sideRounds, duration: sideDuration, connections, log})
    const s1 = await daemon.status()
    const dReq = s1.counters.requests - s0.counters.requests
    const hitRatio = (s1.counters.hits - s0.counters.hits) / dReq
    log(`  daemon hit ratio during the runs: ${fmt(hitRatio * 100, 3)}% of ${dReq} requests; objects ${s1.storage.objects}, memory tier ${s1.storage.memoryObjects} objects`)
    return {
      params: {keys, rounds, duration, warmup, connections, sideRounds, sideDuration},
      warmSeconds: warmS,
      result: res,
      sideBySide: side,
      hitRatio,
      goals: [ratioGoal({id: 'many-keys', goal: `${keys.toLocaleString('en-US')}-key hits ≥ 0.85 of bare`, target: 0.85, side, interleaved: res})],
      rows: ['tavern', 'bare'].map((v) => ({scenario: `hits, ${keys / 1000}k keys`, variant: v, rps: res.byVariant[v].rps, p50: res.byVariant[v].p50, p99: res.byVariant[v].p99, cpu: res.byVariant[v].serverCpu, us: res.byVariant[v].cpuUsPerReq})),
    }
  } finally {
    await daemon.stop()
    await bare.stop()
    await origin.stop()
  }
}
