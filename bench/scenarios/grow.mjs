// 9. Cost does not grow with the cache: one hot 1 KiB key on an empty daemon and on one holding N objects
// (10,000; quick: 2,000), side by side on the same core. The fill of the N objects is timed too (16 connections,
// cold 1 KiB objects: the fill-rate figure of issue 16).
import {fmt, getUntilHit, pool, request} from '../lib/common.mjs'
import {sideBySide} from '../lib/ab.mjs'
import {startDaemon, startOrigin} from '../lib/servers.mjs'

export const name = 'grow'
export const title = 'Hot-key hits: empty cache vs 10,000 stored objects (and the fill of those)'

/** Fill `n` cold 1 KiB objects over `connections` connections; resolves seconds taken. */
export async function fillMany(port, n, connections, prefix = '/many/') {
  const t0 = performance.now()
  await pool(n, connections, (i) => request({host: '127.0.0.1', port, path: `${prefix}${i}`}, {discard: true}))
  return (performance.now() - t0) / 1000
}

export async function run({quick, log}) {
  const objects = quick ? 2_000 : 10_000
  const sideRounds = quick ? 2 : 4
  const sideDuration = quick ? 1.5 : 4
  const connections = 32
  const origin = await startOrigin('origin')
  const empty = await startDaemon({upstream: origin.url})
  const full = await startDaemon({upstream: origin.url})
  try {
    const fillS = await fillMany(full.port, objects, 16)
    log(`  filled ${objects} cold 1 KiB objects in ${fmt(fillS)} s (${fmt(objects / fillS, 0)} fills/s, 16 connections)`)
    for (let i = 0; i < 50; i++) {
      const st = await full.status()
      if (st.storage.objects >= objects) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const p = '/obj/1024/hot'
    for (const d of [empty, full]) await getUntilHit(d.port, p, {size: 1024})
    const st = await full.status()
    log(`  full daemon: ${st.storage.objects} objects, memory tier ${st.storage.memoryObjects} objects`)
    const variants = [
      {name: 'full', url: full.url, path: p, serverPid: full.pid},
      {name: 'empty', url: empty.url, path: p, serverPid: empty.pid},
    ]
    const side = await sideBySide({label: `hot key, ${objects / 1000}k vs 0 objects`, variants, rounds: sideRounds, duration: sideDuration, connections, log})
    const m = side.ratio.median
    return {
      params: {objects, sideRounds, sideDuration, connections},
      fillSeconds: fillS,
      sideBySide: side,
      facts: [{name: `fill ${objects} cold 1 KiB objects, 16 connections`, value: `${fmt(fillS)} s (${fmt(objects / fillS, 0)} fills/s)`}],
      goals: [
        {
          id: 'grow',
          goal: `hot key with ${objects.toLocaleString('en-US')} objects ≥ 0.9 of empty`,
          target: 0.9,
          value: m,
          met: m >= 0.9,
          text: `side by side ${fmt(m, 3)} (${fmt(side.ratio.min, 3)}–${fmt(side.ratio.max, 3)}), CPU-cost ratio ${fmt(side.cpuRatio.median, 3)}, core busy ${fmt(side.coreBusy.median * 100, 0)}%`,
        },
      ],
    }
  } finally {
    await full.stop()
    await empty.stop()
    await origin.stop()
  }
}
