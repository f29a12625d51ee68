// 1. Hit path vs the Node limit: cache hits of a 1 KiB and a 100 KiB object through `tavern serve`,
// alternated with a bare node:http server answering the same bytes from a pre-built Buffer.
import {fmt, getUntilHit, request} from '../lib/common.mjs'
import {abRounds, ratioGoal, sideBySide} from '../lib/ab.mjs'
import {startDaemon, startOrigin} from '../lib/servers.mjs'

export const name = 'hit'
export const title = 'Hit path vs bare node:http'

export async function run({quick, log}) {
  const sizes = [1024, 100 * 1024]
  const rounds = quick ? 2 : 3
  const duration = quick ? 1.5 : 5
  const sideRounds = quick ? 2 : 5
  const sideDuration = quick ? 1.5 : 4
  const warmup = quick ? 0.3 : 1
  const connections = 32
  const origin = await startOrigin('origin')
  const bare = await startOrigin('bare')
  const daemon = await startDaemon({upstream: origin.url})
  try {
    for (const size of sizes) {
      const p = `/obj/${size}/hot`
      const r = await getUntilHit(daemon.port, p, {size})
      const b = await request({host: '127.0.0.1', port: bare.port, path: p})
      if (!b.body.equals(r.body)) throw new Error('bare server and tavern disagree on the body bytes')
    }
    const s0 = await daemon.status()
    const results = {}
    const sides = {}
    for (const size of sizes) {
      const p = `/obj/${size}/hot`
      const variants = [
        {name: 'tavern', url: daemon.url, path: p, serverPid: daemon.pid},
        {name: 'bare', url: bare.url, path: p, serverPid: bare.pid},
      ]
      const label = `${size / 1024} KiB`
      results[size] = await abRounds({label, variants, rounds, duration, warmup, connections, log})
      sides[size] = await sideBySide({label, variants, rounds: sideRounds, duration: sideDuration, connections, log})
    }
    const s1 = await daemon.status()
    const dReq = s1.counters.requests - s0.counters.requests
    const hitRatio = (s1.counters.hits - s0.counters.hits) / dReq
    log(`  daemon hit ratio during the runs: ${fmt(hitRatio * 100, 3)}% of ${dReq} requests; origin requests +${s1.counters.originRequests - s0.counters.originRequests}`)
    const goals = sizes.map((size) => ratioGoal({id: `hit-${size / 1024}k`, goal: `hit ${size / 1024} KiB ≥ 0.90 of bare`, target: 0.9, side: sides[size], interleaved: results[size]}))
    const rows = []
    for (const size of sizes) {
      const r = results[size]
      for (const v of ['tavern', 'bare']) {
        const x = r.byVariant[v]
        rows.push({scenario: `hit ${size / 1024} KiB`, variant: v, rps: x.rps, p50: x.p50, p99: x.p99, cpu: x.serverCpu, us: x.cpuUsPerReq})
      }
    }
    return {params: {sizes, rounds, duration, warmup, connections, sideRounds, sideDuration}, results, sideBySide: sides, hitRatio, originRequestsDuringRuns: s1.counters.originRequests - s0.counters.originRequests, goals, rows}
  } finally {
    await daemon.stop()
    await bare.stop()
    await origin.stop()
  }
}
