// Interleaved A/B load measurements: per round, every variant gets a short warm-up and a measured run;
// the order flips every round so slow drift in the machine's background load hits both sides equally.
import {fmt, loadavg, summary} from './common.mjs'
import {runLoad} from './load.mjs'

/**
 * variants: [{name, url, path?|paths?, serverPid}] (the first is the one under test, the second the reference).
 * Returns {rounds: [{[name]: result}], byVariant: {[name]: {rps, p50, p99, serverCpu}}, ratio: summary of paired rps ratios}.
 */
export async function abRounds({variants, rounds, duration, warmup, connections, log, label}) {
  const out = []
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? variants : [...variants].reverse()
    const round = {loadavg: loadavg()}
    for (const v of order) {
      if (warmup > 0) await runLoad({url: v.url, path: v.path, paths: v.paths, connections, duration: warmup})
      const res = await runLoad({url: v.url, path: v.path, paths: v.paths, connections, duration, serverPid: v.serverPid})
      round[v.name] = res
      log(`  ${label} round ${r + 1}/${rounds} ${v.name.padEnd(8)} ${fmt(res.rps, 0).padStart(8)} req/s  p50 ${fmt(res.latency.p50)} ms  p99 ${fmt(res.latency.p99)} ms  server cpu ${fmt((res.serverCpu ?? NaN) * 100, 0)}% ${fmt(res.cpuUsPerReq ?? NaN, 1)} µs/req${res.errors || res.non2xx ? `  errors ${res.errors} non2xx ${res.non2xx}` : ''}`)
    }
    out.push(round)
  }
  const byVariant = {}
  for (const v of variants) {
    const rs = out.map((r) => r[v.name])
    byVariant[v.name] = {
      rps: summary(rs.map((x) => x.rps)),
      p50: summary(rs.map((x) => x.latency.p50)),
      p99: summary(rs.map((x) => x.latency.p99)),
      serverCpu: summary(rs.map((x) => x.serverCpu ?? NaN)),
      cpuUsPerReq: summary(rs.map((x) => x.cpuUsPerReq ?? NaN)),
      errors: rs.reduce((a, x) => a + x.errors + x.non2xx + x.timeouts, 0),
    }
  }
  const [a, b] = variants
  const ratio = summary(out.map((r) => r[a.name].rps / r[b.name].rps))
  // CPU-cost ratio (reference µs/request ÷ tested µs/request): what the req/s ratio would be if each server had a whole core
  const cpuRatio = summary(out.map((r) => (r[b.name].cpuUsPerReq ?? NaN) / (r[a.name].cpuUsPerReq ?? NaN)))
  return {rounds: out, byVariant, ratio, cpuRatio}
}
