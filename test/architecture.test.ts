/**
 * Rules of the source layout (ARCHITECTURE.md), checked on src/ as it is:
 * - no import cycles, type-only imports included (dpdm; `npm run lint:cycles` is the same check from the shell);
 * - only `tavern serve` imports the daemon: everything else gets services (src/core/services.ts);
 * - every data-plane response is written by src/proxy/answer.ts: no other module of src/proxy calls writeHead,
 *   writeEarlyHints or writeProcessing.
 */
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {parseCircular, parseDependencyTree} from 'dpdm'
import {describe, expect, it} from 'vitest'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SRC = path.join(ROOT, 'src')

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, {recursive: true, encoding: 'utf8'})
    .filter((f) => /\.tsx?$/.test(f) && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f))
}

describe('source layout', () => {
  it('has no import cycles (type-only imports count)', async () => {
    const tree = await parseDependencyTree(['src/**/*.ts', 'src/**/*.tsx'], {context: ROOT, transform: false, skipDynamicImports: false})
    expect(parseCircular(tree).map((c) => c.join(' -> '))).toEqual([])
  }, 60_000)

  it('only src/commands/serve.ts imports src/daemon/ from outside it', () => {
    const offenders: string[] = []
    for (const file of sources(SRC)) {
      const rel = path.relative(SRC, file)
      if (rel.startsWith(`daemon${path.sep}`) || rel === path.join('commands', 'serve.ts')) continue
      const text = fs.readFileSync(file, 'utf8')
      for (const m of text.matchAll(/(?:from\s+|import\()\s*'([^']+)'/g)) {
        const target = path.resolve(path.dirname(file), m[1]!)
        if (m[1]!.startsWith('.') && path.relative(SRC, target).startsWith(`daemon${path.sep}`)) offenders.push(`${rel} imports ${m[1]}`)
      }
    }
    expect(offenders).toEqual([])
  })

  it('src/proxy writes response heads only in answer.ts', () => {
    const offenders: string[] = []
    for (const file of sources(path.join(SRC, 'proxy'))) {
      const rel = path.relative(SRC, file)
      if (rel === path.join('proxy', 'answer.ts')) continue
      const lines = fs.readFileSync(file, 'utf8').split('\n')
      lines.forEach((line, i) => {
        if (/\.(writeHead|writeEarlyHints|writeProcessing)\(/.test(line)) offenders.push(`${rel}:${i + 1}: ${line.trim()}`)
      })
    }
    expect(offenders).toEqual([])
  })
})
