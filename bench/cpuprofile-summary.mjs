#!/usr/bin/env node
// Summarise a V8 .cpuprofile (from `node --cpu-prof`): top self-time functions, and self time grouped
// by source (tavern src/…, node: internals, each node_modules package, GC / idle / program).
//
//   node bench/cpuprofile-summary.mjs FILE.cpuprofile [--top 25] [--json]
import fs from 'node:fs'
import path from 'node:path'

const argv = process.argv.slice(2)
const file = argv.find((a) => !a.startsWith('--'))
if (!file) {
  process.stderr.write('usage: node bench/cpuprofile-summary.mjs FILE.cpuprofile [--top N] [--json]\n')
  process.exit(2)
}
const top = Number(argv[argv.indexOf('--top') + 1]) || 25
const asJson = argv.includes('--json')

export function summarise(profile, topN = 25) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map()
  const {samples, timeDeltas} = profile
  for (let i = 0; i < samples.length; i++) {
    const dt = timeDeltas[i + 1] ?? 0 // delta i+1 is the time spent in sample i
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + dt)
  }
  let total = 0
  for (const v of selfUs.values()) total += v
  const fnKey = (cf) => `${cf.functionName || '(anonymous)'}\t${cf.url}\t${cf.lineNumber + 1}`
  const byFn = new Map()
  const byGroup = new Map()
  for (const [id, us] of selfUs) {
    const n = byId.get(id)
    const cf = n.callFrame
    const k = fnKey(cf)
    byFn.set(k, (byFn.get(k) ?? 0) + us)
    const g = group(cf)
    byGroup.set(g, (byGroup.get(g) ?? 0) + us)
  }
  const fns = [...byFn]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([k, us]) => {
      const [fn, url, line] = k.split('\t')
      return {function: fn, where: shortUrl(url) + (url ? `:${line}` : ''), selfMs: us / 1000, pct: (100 * us) / total}
    })
  // inclusive ("total") time of tavern's own functions: each sample counts once per distinct function on its stack
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const incl = new Map()
  for (let i = 0; i < samples.length; i++) {
    const dt = timeDeltas[i + 1] ?? 0
    const seen = new Set()
    for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
      const cf = byId.get(id).callFrame
      if (!cf.url.includes('/dist/')) continue
      const k = fnKey(cf)
      if (seen.has(k)) continue
      seen.add(k)
      incl.set(k, (incl.get(k) ?? 0) + dt)
    }
  }
  const inclusive = [...incl]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([k, us]) => {
      const [fn, url, line] = k.split('\t')
      return {function: fn, where: shortUrl(url) + `:${line}`, totalMs: us / 1000, pct: (100 * us) / total}
    })
  const groups = [...byGroup].sort((a, b) => b[1] - a[1]).map(([g, us]) => ({group: g, selfMs: us / 1000, pct: (100 * us) / total}))
  return {totalMs: total / 1000, samples: samples.length, functions: fns, groups, inclusive}
}

function shortUrl(url) {
  if (!url) return ''
  const u = url.replace(/^file:\/\//, '')
  const nm = u.lastIndexOf('node_modules/')
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length)
  const d = u.indexOf('/dist/')
  if (d >= 0) return u.slice(d + 1)
  return u.startsWith('node:') ? u : path.basename(u)
}

function group(cf) {
  const name = cf.functionName
  if (!cf.url) {
    if (name === '(garbage collector)') return 'GC'
    if (name === '(idle)') return 'idle'
    if (name === '(program)') return 'program (native, unattributed)'
    return `native: ${name || '(anonymous)'}`
  }
  const u = cf.url.replace(/^file:\/\//, '')
  if (u.startsWith('node:')) return `node:${u.slice(5).split('/')[0]}`
  const nm = u.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = u.slice(nm + 'node_modules/'.length).split('/')
    return `pkg: ${rest[0].startsWith('@') ? rest[0] + '/' + rest[1] : rest[0]}`
  }
  const d = u.indexOf('/dist/')
  if (d >= 0) return `tavern: ${u.slice(d + 6).split('/').slice(0, -1).join('/') || '.'}/${path.basename(u)}`
  return path.basename(u)
}

const profile = JSON.parse(fs.readFileSync(file, 'utf8'))
const s = summarise(profile, top)
if (asJson) {
  process.stdout.write(JSON.stringify(s, null, 2) + '\n')
} else {
  const busy = s.groups.filter((g) => g.group !== 'idle').reduce((a, g) => a + g.selfMs, 0)
  console.log(`${path.basename(file)}: ${s.samples} samples, ${s.totalMs.toFixed(0)} ms profiled, ${busy.toFixed(0)} ms not idle\n`)
  console.log('self time by source:')
  for (const g of s.groups.slice(0, 20)) console.log(`  ${g.pct.toFixed(1).padStart(5)}%  ${g.selfMs.toFixed(0).padStart(7)} ms  ${g.group}`)
  console.log(`\ntop ${top} functions by self time:`)
  for (const f of s.functions) console.log(`  ${f.pct.toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.function.padEnd(36)} ${f.where}`)
  console.log(`\ntop ${top} tavern functions by inclusive time (self + callees):`)
  for (const f of s.inclusive) console.log(`  ${f.pct.toFixed(1).padStart(5)}%  ${f.totalMs.toFixed(0).padStart(7)} ms  ${f.function.padEnd(36)} ${f.where}`)
}
