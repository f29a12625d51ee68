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

/**
 * Side by side: both variants' servers on the same core, loaded at the same time (one autocannon each, the start
 * order alternating per round). Whatever else the shared machine does then hits both alike, and with the core
 * saturated the throughput ratio is the ratio of per-request costs. `coreBusy` (the servers' summed share of the
 * core) below ~0.9 means the load generator, not the servers, set the pace.
 * Returns {rounds: [{[name]: result, ratio, cpuRatio, coreBusy}], ratio, cpuRatio, coreBusy} (summaries).
 */
export async function sideBySide({variants, rounds, duration, connections, log, label}) {
  const [a, b] = variants
  const out = []
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? variants : [...variants].reverse()
    const res = await Promise.all(order.map((v) => runLoad({url: v.url, path: v.path, paths: v.paths, connections, duration, serverPid: v.serverPid})))
    const round = {loadavg: loadavg()}
    order.forEach((v, i) => (round[v.name] = res[i]))
    round.ratio = round[a.name].rps / round[b.name].rps
    round.cpuRatio = (round[b.name].cpuUsPerReq ?? NaN) / (round[a.name].cpuUsPerReq ?? NaN)
    round.coreBusy = (round[a.name].serverCpu ?? NaN) + (round[b.name].serverCpu ?? NaN)
    log(`  ${label} side by side ${r + 1}/${rounds}  ${a.name} ${fmt(round[a.name].rps, 0).padStart(7)} req/s  ${b.name} ${fmt(round[b.name].rps, 0).padStart(7)} req/s  ratio ${fmt(round.ratio, 3)}  CPU-cost ratio ${fmt(round.cpuRatio, 3)}  core busy ${fmt(round.coreBusy * 100, 0)}%`)
    out.push(round)
  }
  return {rounds: out, ratio: summary(out.map((x) => x.ratio)), cpuRatio: summary(out.map((x) => x.cpuRatio)), coreBusy: summary(out.map((x) => x.coreBusy))}
}

/** A "tested ≥ target × reference" goal, judged on the side-by-side ratio, with the interleaved figures alongside. */
export function ratioGoal({id, goal, target, side, interleaved}) {
  const m = side.ratio.median
  const range = (x) => `${fmt(x.median, 3)} (${fmt(x.min, 3)}–${fmt(x.max, 3)})`
  return {
    id,
    goal,
    target,
    value: m,
    met: m >= target,
    cpuRatio: side.cpuRatio.median,
    interleaved: interleaved.ratio.median,
    text: `side by side ${range(side.ratio)}, core busy ${fmt(side.coreBusy.median * 100, 0)}%; interleaved ${range(interleaved.ratio)}, CPU-cost ratio ${fmt(interleaved.cpuRatio.median, 3)}`,
  }
}
