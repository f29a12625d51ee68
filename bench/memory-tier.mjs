#!/usr/bin/env node
// MemoryTier.get of one hot key with 0 … 100,000 other entries held: the tier of this tree (dist/, build first)
// against the previous design (a Map whose entry is deleted and re-inserted on every hit to keep recency), in one
// process, interleaved. Prints ns per get; the figure to read is the ratio at each size (≈ 1 across sizes = O(1)).
//
//   node bench/memory-tier.mjs [--ms 500]   (time per measurement)
import {MemoryTier} from '../dist/storage/memory-tier.js'

/** The design before issue 16 (for comparison only). */
class MapReinsertTier {
  map = new Map()
  get(file) {
    const b = this.map.get(file)
    if (b !== undefined) {
      this.map.delete(file)
      this.map.set(file, b)
    }
    return b
  }
  set(file, buf) {
    this.map.set(file, buf)
  }
}

const ms = process.argv.includes('--ms') ? Number(process.argv[process.argv.indexOf('--ms') + 1]) : 500
const body = Buffer.alloc(1024)

function measure(tier, n) {
  for (let i = 0; i < n; i++) tier.set(`ab/cd/file-${i}`, body)
  tier.set('hot', body)
  let sink = 0
  for (let i = 0; i < 1_000; i++) sink += tier.get('hot').length // warm-up
  // Gets in blocks of 100 until `ms` passed (the old design takes ~0.2 ms per get at 10,000 entries).
  const t0 = process.hrtime.bigint()
  const end = t0 + BigInt(ms) * 1_000_000n
  let gets = 0
  let now = t0
  while (now < end) {
    for (let i = 0; i < 100; i++) sink += tier.get('hot').length
    gets += 100
    now = process.hrtime.bigint()
  }
  const ns = Number(now - t0) / gets
  if (sink === 0) throw new Error('unreachable')
  return ns
}

console.log('entries     this tree ns/get   map re-insert ns/get')
for (const n of [0, 1_000, 10_000, 100_000]) {
  const a = measure(new MemoryTier(1 << 30, 1 << 20), n)
  const b = measure(new MapReinsertTier(), n)
  console.log(`${String(n).padStart(7)}     ${a.toFixed(1).padStart(14)}   ${b.toFixed(1).padStart(20)}`)
}
