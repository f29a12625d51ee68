// 3. Miss path overhead: an uncacheable (Cache-Control: no-store) 1 KiB response through the proxy vs
// straight from the origin. Origin and daemon share the server core, so "proxied" includes the proxy's CPU cost
// (server cpu = daemon + origin for proxied, origin alone for direct).
import {fmt} from '../lib/common.mjs'
import {abRounds} from '../lib/ab.mjs'
import {startDaemon, startOrigin} from '../lib/servers.mjs'

export const name = 'miss'
export const title = 'Miss path (no-store) vs origin direct'

export async function run({quick, log}) {
  const rounds = quick ? 2 : 3
  const duration = quick ? 1.5 : 5
  const warmup = quick ? 0.3 : 1
  const connections = 32
  const origin = await startOrigin('origin')
  const daemon = await startDaemon({upstream: origin.url})
  try {
    const p = '/nostore/1024/x'
    const s0 = await daemon.status()
    const res = await abRounds({
      label: 'no-store',
      variants: [
        {name: 'proxied', url: daemon.url, path: p, serverPid: [daemon.pid, origin.pid]},
        {name: 'direct', url: origin.url, path: p, serverPid: origin.pid},
      ],
      rounds,
      duration,
      warmup,
      connections,
      log,
    })
    const s1 = await daemon.status()
    const dReq = s1.counters.requests - s0.counters.requests
    const dOrigin = s1.counters.originRequests - s0.counters.originRequests
    log(`  daemon: ${dReq} requests, ${dOrigin} origin requests, ${s1.storage.objects} objects stored`)
    const px = res.byVariant.proxied
    const dx = res.byVariant.direct
    return {
      params: {rounds, duration, warmup, connections, path: p},
      result: res,
      originRequestsPerRequest: dOrigin / dReq,
      overhead: {rpsRatio: res.ratio, addedP50Ms: px.p50.median - dx.p50.median, addedP99Ms: px.p99.median - dx.p99.median},
      goals: [{id: 'miss', goal: 'miss path overhead (informational)', value: res.ratio.median, met: null, text: `proxied/direct req/s ${fmt(res.ratio.median, 3)} (${fmt(res.ratio.min, 3)}–${fmt(res.ratio.max, 3)}); server CPU per request ${fmt(px.cpuUsPerReq.median, 1)} vs ${fmt(dx.cpuUsPerReq.median, 1)} µs; p50 +${fmt(px.p50.median - dx.p50.median)} ms`}],
      rows: ['proxied', 'direct'].map((v) => ({scenario: 'miss no-store 1 KiB', variant: v, rps: res.byVariant[v].rps, p50: res.byVariant[v].p50, p99: res.byVariant[v].p99, cpu: res.byVariant[v].serverCpu, us: res.byVariant[v].cpuUsPerReq})),
    }
  } finally {
    await daemon.stop()
    await origin.stop()
  }
}
