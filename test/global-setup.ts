/**
 * vitest globalSetup: the e2e tests spawn the built daemon (bin/run.js → dist/), so a dist/ older than src/ would
 * test yesterday's code. Build when any compiled file is missing or older than its source (or than tsconfig.json /
 * package.json); `npm test` builds in pretest, so this only checks there and costs a few hundred stat calls.
 */
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function mtime(p: string): number | undefined {
  try {
    return fs.statSync(p).mtimeMs
  } catch {
    return undefined
  }
}

/** Why dist/ does not match src/, or undefined when it does. */
export function staleReason(root = ROOT): string | undefined {
  const src = path.join(root, 'src')
  const dist = path.join(root, 'dist')
  const configAt = Math.max(mtime(path.join(root, 'tsconfig.json')) ?? 0, mtime(path.join(root, 'package.json')) ?? 0)
  let newestSource = configAt
  for (const rel of fs.readdirSync(src, {recursive: true, encoding: 'utf8'})) {
    if (!/\.tsx?$/.test(rel) || rel.endsWith('.d.ts')) continue
    const s = mtime(path.join(src, rel))!
    newestSource = Math.max(newestSource, s)
    const out = path.join(dist, rel.replace(/\.tsx?$/, '.js'))
    const d = mtime(out)
    if (d === undefined) return `dist/${path.relative(dist, out)} is missing`
    if (d < Math.max(s, configAt)) return `dist/${path.relative(dist, out)} is older than ${mtime(path.join(src, rel))! > configAt ? `src/${rel}` : 'tsconfig.json/package.json'}`
  }
  const manifest = mtime(path.join(root, 'oclif.manifest.json'))
  if (manifest === undefined) return 'oclif.manifest.json is missing'
  if (manifest < newestSource) return 'oclif.manifest.json is older than src/'
  return undefined
}

export default function setup(): void {
  const reason = staleReason()
  if (!reason) return
  console.log(`[global-setup] ${reason}: running npm run build`)
  // Not vitest's NODE_ENV=test: oclif's manifest would then point at src/*.ts and the CLI would fail outside vitest.
  const {NODE_ENV: _ignored, ...env} = process.env
  const r = spawnSync('npm', ['run', 'build'], {cwd: ROOT, stdio: 'inherit', env})
  if (r.status !== 0) throw new Error(`npm run build failed (exit ${r.status ?? r.signal}); the e2e tests would run a stale dist/`)
  const still = staleReason()
  if (still) throw new Error(`dist/ is still stale after npm run build: ${still}`)
}
