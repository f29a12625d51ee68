// Observability overhead: the hit path with the metrics listener (scraped every second) and the access log on,
// against the same build with both off (stats are always on). Adapter around ../overhead.mjs for bench/run.mjs.
import {fmt} from '../lib/common.mjs'
import {run as runOverhead} from '../overhead.mjs'

export const name = 'overhead'
export const title = 'Hit path with metrics + access log vs without (goal ≥ 0.95)'

export async function run({quick, log}) {
  const r = await runOverhead({quick, log})
  const a = r.variants.a
  const b = r.variants.b
  return {
    result: r,
    facts: [
      {name: 'overhead: 1 KiB hits, defaults (req/s, p99 ms, µs CPU/req)', value: `${fmt(a.rps, 0)}, ${fmt(a.p99)}, ${fmt(a.cpuUsPerReq, 1)}`},
      {name: 'overhead: with --metrics + scrapes + --access-log', value: `${fmt(b.rps, 0)}, ${fmt(b.p99)}, ${fmt(b.cpuUsPerReq, 1)}`},
      {name: 'overhead: interleaved rounds b/a req/s (CPU-cost)', value: `${fmt(r.ratio, 3)} (rounds ${r.pairedRatios.map((x) => fmt(x, 2)).join(' / ')}) (${fmt(r.cpuRatio, 3)})`},
    ],
    goals: [
      {
        goal: 'hit path with stats+metrics+log ≥ 0.95',
        met: r.met,
        // Judged side by side (both daemons on one core at once); see ../overhead.mjs for why.
        text: `side-by-side req/s ratio ${fmt(r.sideBySide.ratio, 3)} (rounds ${r.sideBySide.rounds.map((x) => fmt(x.ratio, 3)).join(' / ')}); CPU-cost ratio ${fmt(r.sideBySide.cpuRatio, 3)}`,
      },
    ],
  }
}
