// 4. Collapsing: 200 concurrent requests for one cold object that the origin answers after 500 ms.
// Counts origin requests (origin-side counter and the daemon's) and compares client latencies with the
// latency of one direct origin request. A second daemon with cache.collapse=false is the contrast.
import http from 'node:http'

import {fmt, latencyStats, median, request, summary} from '../lib/common.mjs'
import {runLoad} from '../lib/load.mjs'
import {startDaemon, startOrigin} from '../lib/servers.mjs'

export const name = 'collapse'
export const title = 'Collapsing 200 concurrent cold requests (origin 500 ms)'

const CONCURRENCY = 200
const DELAY_MS = 500

async function originCount(origin, p) {
  const r = await request({host: '127.0.0.1', port: origin.port, path: '/__stats'})
  return JSON.parse(r.body.toString()).byPath[p] ?? 0
}

async function burst(port, p, n = CONCURRENCY) {
  const agent = new http.Agent({keepAlive: false, maxSockets: Infinity})
  try {
    const rs = await Promise.all(Array.from({length: n}, () => request({host: '127.0.0.1', port, path: p, agent}, {discard: true, timeoutMs: 30_000})))
    const bad = rs.filter((r) => r.status !== 200 || r.bytes !== 1024)
    if (bad.length) throw new Error(`${bad.length} of ${n} requests failed (status ${bad[0].status}, ${bad[0].bytes} bytes)`)
    return rs.map((r) => r.ms)
  } finally {
    agent.destroy()
  }
}

export async function run({quick, log}) {
  const reps = quick ? 1 : 3
  const origin = await startOrigin('origin')
  const on = await startDaemon({upstream: origin.url})
  const off = await startDaemon({upstream: origin.url, config: {cache: {collapse: false}}})
  const out = {direct: [], directBurst: [], collapse: [], noCollapse: []}
  try {
    // warm the daemons' code paths (JIT) so the bursts measure steady state, not a fresh process
    for (const daemon of [on, off]) {
      for (let i = 0; i < (quick ? 2 : 5); i++) await burst(daemon.port, `/slow/5/1024/warm-${i}`, 50)
      await runLoad({url: daemon.url, path: '/slow/5/1024/warm-0', connections: 16, amount: quick ? 1000 : 3000})
    }
    for (let r = 0; r < reps; r++) {
      const tag = `${Date.now().toString(36)}-${r}`
      const d = await request({host: '127.0.0.1', port: origin.port, path: `/slow/${DELAY_MS}/1024/direct-${tag}`}, {discard: true})
      out.direct.push(d.ms)
      // the same 200-request burst straight at the origin: what the client side and 200 connects cost without a proxy
      const db = latencyStats(await burst(origin.port, `/slow/${DELAY_MS}/1024/burst-${tag}`))
      out.directBurst.push(db)
      for (const [k, daemon] of [
        ['collapse', on],
        ['noCollapse', off],
      ]) {
        const p = `/slow/${DELAY_MS}/1024/${k}-${tag}`
        const s0 = await daemon.status()
        const t0 = performance.now()
        const lat = await burst(daemon.port, p)
        const wall = performance.now() - t0
        const s1 = await daemon.status()
        const o = await originCount(origin, p)
        const st = latencyStats(lat)
        out[k].push({originRequests: o, daemonOriginRequests: s1.counters.originRequests - s0.counters.originRequests, latency: st, wallMs: wall})
        log(`  rep ${r + 1}/${reps} ${k.padEnd(10)} origin requests ${String(o).padStart(3)}  latency p50 ${fmt(st.p50)} p99 ${fmt(st.p99)} max ${fmt(st.max)} ms  (direct origin ${fmt(d.ms)} ms; 200 direct p50 ${fmt(db.p50)} p99 ${fmt(db.p99)} ms)`)
      }
    }
  } finally {
    await on.stop()
    await off.stop()
    await origin.stop()
  }
  const direct = summary(out.direct)
  const directBurst = {p50: summary(out.directBurst.map((x) => x.p50)), p99: summary(out.directBurst.map((x) => x.p99))}
  const c = {
    originRequests: summary(out.collapse.map((x) => x.originRequests)),
    p50: summary(out.collapse.map((x) => x.latency.p50)),
    p99: summary(out.collapse.map((x) => x.latency.p99)),
    max: summary(out.collapse.map((x) => x.latency.max)),
  }
  const n = {
    originRequests: summary(out.noCollapse.map((x) => x.originRequests)),
    p50: summary(out.noCollapse.map((x) => x.latency.p50)),
    p99: summary(out.noCollapse.map((x) => x.latency.p99)),
  }
  const maxOrigin = c.originRequests.max
  return {
    params: {concurrency: CONCURRENCY, delayMs: DELAY_MS, reps},
    raw: out,
    direct,
    directBurst,
    collapse: c,
    noCollapse: n,
    facts: [
      {name: 'collapse: origin requests for 200 concurrent cold requests', value: `${spread0(c.originRequests)} (collapse off: ${spread0(n.originRequests)})`},
      {name: 'collapse: client latency p50 / p99 / max (ms)', value: `${fmt(c.p50.median)} / ${fmt(c.p99.median)} / ${fmt(c.max.median)} (direct origin ${fmt(direct.median)}; off: p50 ${fmt(n.p50.median)}, p99 ${fmt(n.p99.median)})`},
      {name: 'collapse: 200 concurrent straight to the origin p50 / p99 (ms)', value: `${fmt(directBurst.p50.median)} / ${fmt(directBurst.p99.median)}`},
      {name: 'collapse: follower p99 − direct origin latency (ms)', value: `${fmt(c.p99.median - direct.median)} (range ${fmt(c.p99.min - direct.median)}–${fmt(c.p99.max - direct.median)}); vs 200 direct: ${fmt(c.p99.median - directBurst.p99.median)}`},
    ],
    goals: [
      {id: 'collapse', goal: '200 concurrent cold → 1 origin request', target: 1, value: maxOrigin, met: maxOrigin === 1, text: `origin requests per burst: ${out.collapse.map((x) => x.originRequests).join(', ')}; follower p99 ${fmt(c.p99.median)} ms vs origin ${fmt(median(out.direct))} ms`},
    ],
  }
}

function spread0(s) {
  return s.min === s.max ? String(s.median) : `${s.median} (${s.min}–${s.max})`
}
