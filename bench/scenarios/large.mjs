// 5. Large objects: one 1 GiB object (64 MiB in quick mode) that the origin generates on the fly,
// fetched cold (origin → tavern → client, written to disk while streaming) and warm (from the body file),
// with the daemon's VmRSS sampled every 50 ms and VmHWM (peak RSS over the daemon's life) at the end.
import {fmt, fmtBytes, procMem, request, sampleRss, sleep, summary} from '../lib/common.mjs'
import {startDaemon, startOrigin} from '../lib/servers.mjs'

export const name = 'large'
export const title = 'Large object (1 GiB; quick: 64 MiB) cold and warm'

const MB = 1024 * 1024

async function fetchTimed(port, p) {
  const r = await request({host: '127.0.0.1', port, path: p}, {discard: true, timeoutMs: 300_000})
  return {status: r.status, bytes: r.bytes, ms: r.ms, cacheStatus: r.headers['cache-status'] ?? null, mibps: r.bytes / MB / (r.ms / 1000)}
}

export async function run({quick, log}) {
  const size = quick ? 64 * MB : 1024 * MB
  const origin = await startOrigin('origin')
  const daemon = await startDaemon({upstream: origin.url})
  const afterStart = procMem(daemon.pid)
  const runs = {direct: [], cold: [], warm: []}
  const rss = {cold: [], warm: []}
  let end
  try {
    // Plan: direct, cold A, warm A, cold B, warm B, warm A (quick: direct, cold A, warm A, warm A).
    const plan = quick
      ? [['direct', 'd'], ['cold', 'a'], ['warm', 'a'], ['warm', 'a']]
      : [['direct', 'd'], ['cold', 'a'], ['warm', 'a'], ['cold', 'b'], ['warm', 'b'], ['warm', 'a']]
    for (const [kind, id] of plan) {
      const p = `/big/${size}/${id}`
      if (kind === 'direct') {
        const r = await fetchTimed(origin.port, p)
        runs.direct.push(r)
        log(`  direct ${fmtBytes(r.bytes)} in ${fmt(r.ms / 1000)} s = ${fmt(r.mibps, 0)} MiB/s`)
        continue
      }
      if (kind === 'warm') {
        // the fill commits right after the cold response ended: wait until it is indexed
        for (let i = 0; i < 100; i++) {
          const st = await daemon.status()
          if (st.storage.objects >= (id === 'a' ? 1 : 2)) break
          await sleep(100)
        }
      }
      const s = sampleRss(daemon.pid, 50)
      const r = await fetchTimed(daemon.port, p)
      const m = s.stop()
      if (r.status !== 200 || r.bytes !== size) throw new Error(`${kind} ${p}: status ${r.status}, ${r.bytes} bytes`)
      if (kind === 'warm' && !/hit/.test(String(r.cacheStatus))) throw new Error(`warm ${p} was not a hit: ${r.cacheStatus}`)
      runs[kind].push({...r, maxRss: m.maxRss})
      rss[kind].push(m.maxRss)
      log(`  ${kind.padEnd(6)} ${fmtBytes(r.bytes)} in ${fmt(r.ms / 1000)} s = ${fmt(r.mibps, 0)} MiB/s  max VmRSS ${fmtBytes(m.maxRss)}  (${r.cacheStatus})`)
    }
  } finally {
    end = procMem(daemon.pid)
    await daemon.stop()
    await origin.stop()
  }
  const hwm = end?.hwm ?? NaN
  const cold = summary(runs.cold.map((r) => r.mibps))
  const warm = summary(runs.warm.map((r) => r.mibps))
  const direct = summary(runs.direct.map((r) => r.mibps))
  return {
    params: {bytes: size},
    runs,
    rssAfterStart: afterStart?.rss ?? null,
    vmHWM: hwm,
    facts: [
      {name: `large ${fmtBytes(size)}: direct / cold / warm MiB/s`, value: `${fmt(direct.median, 0)} / ${cold.n > 1 ? `${fmt(cold.median, 0)} (${fmt(cold.min, 0)}–${fmt(cold.max, 0)})` : fmt(cold.median, 0)} / ${fmt(warm.median, 0)} (${fmt(warm.min, 0)}–${fmt(warm.max, 0)})`},
      {name: 'large: daemon RSS after start / max cold / max warm / VmHWM', value: `${fmtBytes(afterStart?.rss)} / ${fmtBytes(Math.max(...rss.cold))} / ${fmtBytes(Math.max(...rss.warm))} / ${fmtBytes(hwm)}`},
    ],
    goals: [{id: 'large-rss', goal: `daemon peak RSS < 200 MB (${fmtBytes(size)} object)`, target: 200e6, value: hwm, met: hwm < 200e6, text: `VmHWM ${fmt(hwm / 1e6, 1)} MB (${fmtBytes(hwm)})`}],
  }
}
