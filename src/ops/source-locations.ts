/**
 * Maps the frames of a CPU profile from compiled files back to their sources (dist/proxy/handler.js:88 →
 * src/proxy/handler.ts:97) with the `.js.map` files tsc writes beside them, so `tavern profile top` names lines a
 * person can open. Only tavern's own compiled files are looked up (bounded: at most 1000 maps of up to 8 MiB each);
 * a frame without a map keeps its compiled location.
 */
import {readFile} from 'node:fs/promises'
import {SourceMap, type SourceMapPayload} from 'node:module'
import {fileURLToPath} from 'node:url'

import type {CpuProfile, CpuProfileCallFrame} from './cpuprofile-summary.js'

export type LocateFrame = (cf: CpuProfileCallFrame) => {url: string; lineNumber: number} | undefined

const MAX_MAPS = 1000
const MAX_MAP_BYTES = 8 * 1024 * 1024

export async function sourceMapLocator(profile: CpuProfile): Promise<LocateFrame> {
  const urls = new Set<string>()
  for (const n of profile.nodes) {
    const u = n.callFrame.url
    if (u.startsWith('file://') && u.endsWith('.js') && !u.includes('/node_modules/')) urls.add(u)
    if (urls.size >= MAX_MAPS) break
  }
  const maps = new Map<string, {map: SourceMap; base: string}>()
  await Promise.all(
    [...urls].map(async (url) => {
      const mapUrl = `${url}.map`
      try {
        const text = await readFile(fileURLToPath(mapUrl), 'utf8')
        if (text.length > MAX_MAP_BYTES) return
        maps.set(url, {map: new SourceMap(JSON.parse(text) as SourceMapPayload), base: mapUrl})
      } catch {
        // No map (or not readable, or not JSON): the compiled location stays.
      }
    }),
  )
  return (cf) => {
    const m = maps.get(cf.url)
    if (!m || cf.lineNumber < 0) return undefined
    const e = m.map.findEntry(cf.lineNumber, Math.max(0, cf.columnNumber))
    if (!('originalSource' in e) || typeof e.originalSource !== 'string') return undefined
    return {url: new URL(e.originalSource, m.base).href, lineNumber: e.originalLine}
  }
}
