/**
 * Summary of a V8 CPU profile (the `.cpuprofile` of `node --cpu-prof`, Chrome DevTools and `tavern profile cpu`):
 * the functions with the most self time (with url:line), self time grouped by source (tavern's own files, node:
 * internals, each node_modules package, GC / idle / program), and the inclusive time of tavern's own functions.
 * Used by `tavern profile top` (in the daemon) and bench/cpuprofile-summary.mjs.
 */
import path from 'node:path'

export interface CpuProfileCallFrame {
  functionName: string
  scriptId: string
  url: string
  /** 0-based. */
  lineNumber: number
  columnNumber: number
}

export interface CpuProfileNode {
  id: number
  callFrame: CpuProfileCallFrame
  hitCount?: number
  children?: number[]
}

/** The Chrome DevTools protocol's Profiler.Profile: what a .cpuprofile file holds. */
export interface CpuProfile {
  nodes: CpuProfileNode[]
  /** µs. */
  startTime: number
  endTime: number
  /** Node id of each sample. */
  samples?: number[]
  /** µs between samples; delta i+1 is the time spent in sample i. */
  timeDeltas?: number[]
}

export interface FunctionSelfTime {
  function: string
  url: string
  /** 1-based; 0 when the frame has no source (native, GC). */
  line: number
  /** Short `file:line` for people. */
  where: string
  selfMs: number
  pct: number
}

export interface FunctionTotalTime {
  function: string
  url: string
  line: number
  where: string
  totalMs: number
  pct: number
}

export interface SourceGroupTime {
  group: string
  selfMs: number
  pct: number
}

export interface CpuProfileSummary {
  /** Sampled time, ms. */
  totalMs: number
  /** Sampled time that was not idle, ms. */
  busyMs: number
  samples: number
  /** Top functions by self time. */
  functions: FunctionSelfTime[]
  /** Self time by source, all groups, largest first. */
  groups: SourceGroupTime[]
  /** Top tavern functions by inclusive time (self + callees; each counted once per sample). */
  inclusive: FunctionTotalTime[]
}

export interface SummaryOptions {
  /** Rows per list (default 25). */
  top?: number
  /** URL prefix of tavern's own files (default: this package's root). */
  ownRoot?: string
  /** Where a frame's code really is (e.g. from source maps: see source-locations.ts); undefined keeps the frame's. */
  locate?: (cf: CpuProfileCallFrame) => {url: string; lineNumber: number} | undefined
}

const PACKAGE_ROOT = new URL('../../', import.meta.url).href

/** Whether a frame's url is tavern's own code: under the package root, or any checkout's dist/ or src/ (bench refs). */
function isOwn(url: string, root: string): boolean {
  if (!url || url.startsWith('node:') || url.includes('/node_modules/')) return false
  return url.startsWith(root) || /\/(dist|src)\//.test(url)
}

function shortUrl(url: string, root: string): string {
  if (!url) return ''
  if (url.startsWith('node:')) return url
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length)
  if (url.startsWith(root)) return url.slice(root.length)
  const m = /\/((?:dist|src)\/.*)$/.exec(url)
  if (m) return m[1]!
  return path.basename(url.replace(/^file:\/\//, ''))
}

function group(cf: CpuProfileCallFrame, root: string): string {
  const name = cf.functionName
  if (!cf.url) {
    if (name === '(garbage collector)') return 'GC'
    if (name === '(idle)') return 'idle'
    if (name === '(program)') return 'program (native, unattributed)'
    return `native: ${name || '(anonymous)'}`
  }
  if (cf.url.startsWith('node:')) return `node:${cf.url.slice(5).split('/')[0]}`
  const nm = cf.url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = cf.url.slice(nm + '/node_modules/'.length).split('/')
    return `pkg: ${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`
  }
  if (isOwn(cf.url, root)) return `tavern: ${shortUrl(cf.url, root).replace(/^(dist|src)\//, '')}`
  return path.basename(cf.url.replace(/^file:\/\//, ''))
}

function key(cf: CpuProfileCallFrame, locate: SummaryOptions['locate']): string {
  const at = locate?.(cf)
  const url = at?.url ?? cf.url
  const line = at?.lineNumber ?? cf.lineNumber
  return `${cf.functionName || '(anonymous)'}\t${url}\t${url ? line + 1 : 0}`
}

function splitKey(k: string, root: string): {function: string; url: string; line: number; where: string} {
  const [fn, url, line] = k.split('\t') as [string, string, string]
  const n = Number(line)
  return {function: fn, url, line: n, where: url ? `${shortUrl(url, root)}:${n}` : ''}
}

export function summariseCpuProfile(profile: CpuProfile, opts: SummaryOptions = {}): CpuProfileSummary {
  const topN = Math.max(1, opts.top ?? 25)
  const root = opts.ownRoot ?? PACKAGE_ROOT
  // One key per node, computed once: locating a frame may cost a source-map lookup.
  const keyOf = new Map<number, string>()
  const nodeKey = (n: CpuProfileNode): string => {
    let k = keyOf.get(n.id)
    if (k === undefined) keyOf.set(n.id, (k = key(n.callFrame, opts.locate)))
    return k
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  const selfUs = new Map<number, number>()
  for (let i = 0; i < samples.length; i++) {
    const dt = deltas[i + 1] ?? 0
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + dt)
  }
  let total = 0
  for (const v of selfUs.values()) total += v
  const pct = (us: number): number => (total > 0 ? (100 * us) / total : 0)

  const byFn = new Map<string, number>()
  const byGroup = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const n = byId.get(id)
    if (!n) continue
    const k = nodeKey(n)
    byFn.set(k, (byFn.get(k) ?? 0) + us)
    const g = group(n.callFrame, root)
    byGroup.set(g, (byGroup.get(g) ?? 0) + us)
  }
  const functions = [...byFn]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([k, us]) => ({...splitKey(k, root), selfMs: us / 1000, pct: pct(us)}))

  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const incl = new Map<string, number>()
  for (let i = 0; i < samples.length; i++) {
    const dt = deltas[i + 1] ?? 0
    const seen = new Set<string>()
    for (let id: number | undefined = samples[i]; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id)
      if (!node || !isOwn(node.callFrame.url, root)) continue
      const k = nodeKey(node)
      if (seen.has(k)) continue
      seen.add(k)
      incl.set(k, (incl.get(k) ?? 0) + dt)
    }
  }
  const inclusive = [...incl]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([k, us]) => ({...splitKey(k, root), totalMs: us / 1000, pct: pct(us)}))
  const groups = [...byGroup].sort((a, b) => b[1] - a[1]).map(([g, us]) => ({group: g, selfMs: us / 1000, pct: pct(us)}))
  const idle = byGroup.get('idle') ?? 0
  return {totalMs: total / 1000, busyMs: (total - idle) / 1000, samples: samples.length, functions, groups, inclusive}
}

/** The summary as text: a header line, self time by source, top functions, top tavern functions by inclusive time. */
export function formatCpuProfileSummary(s: CpuProfileSummary, opts: {title?: string; groups?: number} = {}): string {
  const lines: string[] = []
  lines.push(`${opts.title ? `${opts.title}: ` : ''}${s.samples} samples, ${s.totalMs.toFixed(0)} ms profiled, ${s.busyMs.toFixed(0)} ms not idle`, '')
  lines.push('self time by source:')
  for (const g of s.groups.slice(0, opts.groups ?? 20)) lines.push(`  ${g.pct.toFixed(1).padStart(5)}%  ${g.selfMs.toFixed(0).padStart(7)} ms  ${g.group}`)
  lines.push('', `top ${s.functions.length} functions by self time:`)
  for (const f of s.functions) lines.push(`  ${f.pct.toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.function.padEnd(36)} ${f.where}`)
  lines.push('', `top ${s.inclusive.length} tavern functions by inclusive time (self + callees):`)
  for (const f of s.inclusive) lines.push(`  ${f.pct.toFixed(1).padStart(5)}%  ${f.totalMs.toFixed(0).padStart(7)} ms  ${f.function.padEnd(36)} ${f.where}`)
  return lines.join('\n')
}
