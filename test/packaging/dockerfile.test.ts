// The Dockerfile builds what CI builds, the way CI builds it, and the image is what the README says (multi-stage,
// non-root, storage as a volume, health check through the admin socket, tavern serve as the entrypoint). No container
// runtime runs here: the static checks always run, and in CI (or with TAVERN_DOCKER_REPLAY=1)
// scripts/dockerfile-replay.mjs replays the steps in a temp directory and starts the result.
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {type DockerInstruction, dockerignoreMatcher, parseDockerfile} from '../../scripts/dockerfile.mjs'
import {loadConfig} from '../../src/config/load.js'
import {REPO_ROOT} from '../helpers/daemon.js'

const read = (f: string) => fs.readFileSync(path.join(REPO_ROOT, f), 'utf8')
const {stages} = parseDockerfile(read('Dockerfile'))
const [build, image] = [stages[0]!, stages.at(-1)!]
const ops = (s: typeof build, op: string): DockerInstruction[] => s.instructions.filter((i) => i.op === op)
const only = (s: typeof build, op: string): string => {
  const all = ops(s, op)
  expect(all, op).toHaveLength(1)
  return all[0]!.args
}
const ignored = dockerignoreMatcher(read('.dockerignore'))

it('two stages on the Node 20 slim image the project supports', () => {
  expect(stages).toHaveLength(2)
  expect(build.name).toBe('build')
  for (const s of stages) expect(s.from).toBe('node:20-bookworm-slim')
  expect(JSON.parse(read('package.json')).engines.node).toMatch(/^>=20\./)
})

it('the build stage runs the commands CI runs: .ci/run\'s npm ci, then the build npm test starts with', () => {
  const ci = read('.ci/run')
    .split('\n')
    .map((l) => l.trim())
  const runs = ops(build, 'RUN').map((r) => r.args)
  const npmCi = ci.find((l) => l.startsWith('npm ci'))!
  expect(runs[0]).toBe(npmCi)
  // npm test = pretest (npm run build && npm run typecheck) + the tests: the image takes the build.
  const pkg = JSON.parse(read('package.json')) as {scripts: Record<string, string>}
  expect(ci).toContain('npm test')
  expect(pkg.scripts.pretest!.split('&&').map((s) => s.trim())[0]).toBe('npm run build')
  expect(runs[1]).toBe('npm run build')
  // Then only the production dependencies go on.
  expect(runs.slice(2)).toEqual(['npm prune --omit=dev --no-audit --no-fund'])
})

it('every file the build needs is copied from the context, and none of it is excluded by .dockerignore', () => {
  const copied = ops(build, 'COPY').flatMap((c) => c.args.split(' ').slice(0, -1))
  for (const src of copied) {
    expect(fs.existsSync(path.join(REPO_ROOT, src)), src).toBe(true)
    expect(ignored(src), src).toBe(false)
  }
  // What `npm run build` reads: tsc's project and sources, the manifest script, the CLI's package.json.
  expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'scripts', 'bin']))
  // Every other tsc project the build script names (tsc -p X) is copied too.
  const buildScript = (JSON.parse(read('package.json')) as {scripts: Record<string, string>}).scripts.build!
  const projects = [...buildScript.matchAll(/tsc -p (\S+)/g)].map((m) => m[1]!)
  expect(projects.length).toBeGreaterThan(0)
  expect(copied).toEqual(expect.arrayContaining(projects))
  // A local build or install never leaks into the image.
  for (const p of ['node_modules', 'dist', 'oclif.manifest.json', '.git']) expect(ignored(p), p).toBe(true)
})

it('the image holds what package.json publishes, plus the production dependencies', () => {
  const fromBuild = ops(image, 'COPY')
    .filter((c) => c.args.startsWith('--from=build '))
    .flatMap((c) => c.args.split(' ').slice(1, -1).map((p) => path.posix.relative('/src', p)))
  // A glob entry ("assets/dashboard/*.{html,js}") is shipped by copying its directory.
  const files = (JSON.parse(read('package.json')) as {files: string[]}).files.map((f) => f.replace(/\/[^/]*[*{].*$/, ''))
  expect(fromBuild).toEqual(expect.arrayContaining([...files, 'package.json', 'node_modules']))
})

it('runs as a non-root user, storage in a volume, the health check through the admin socket, tavern serve', async () => {
  const user = only(image, 'USER')
  expect(user).not.toMatch(/^(root|0)(:|$)/)
  expect(only(image, 'ENTRYPOINT')).toBe('["tavern", "serve"]')
  expect(only(image, 'STOPSIGNAL')).toBe('SIGTERM')
  expect(only(image, 'HEALTHCHECK')).toMatch(/^--interval=\S+ --timeout=\S+ --start-period=\S+ --retries=\d+ CMD \["tavern", "status"\]$/)
  // The image's config (found in its working directory) stores in the volume and listens on the exposed port.
  const copyConfig = ops(image, 'COPY').find((c) => c.args.endsWith('/etc/tavern/tavern.config.yaml'))!
  expect(ops(image, 'WORKDIR').at(-1)!.args).toBe('/etc/tavern')
  const {config} = await loadConfig({file: path.join(REPO_ROOT, copyConfig.args.split(' ')[0]!)})
  expect(JSON.parse(only(image, 'VOLUME'))).toEqual([config.storage.dir])
  expect(config.listen[0]!.address).toMatch(/^0\.0\.0\.0:/)
  expect(only(image, 'EXPOSE').split(' ')).toContain(String(config.listen[0]!.port))
  // The volume's directory is created for that user, private, before USER switches to it.
  expect(ops(image, 'RUN')[0]!.args).toContain(`install -d -o ${user} -g ${user} -m 0700 ${config.storage.dir}`)
})

const replay = process.env.CI !== undefined || process.env.TAVERN_DOCKER_REPLAY === '1'
if (!replay) console.log('dockerfile.test.ts: the Dockerfile replay (npm ci + build in a temp dir, then serve) runs in CI or with TAVERN_DOCKER_REPLAY=1; skipped')

describe.skipIf(!replay)('replayed without a container runtime', () => {
  it('scripts/dockerfile-replay.mjs builds the stages, then config check, serve and the health check work on the result', async () => {
    const r = await new Promise<{code: number | null; out: string}>((resolve) => {
      const p = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts/dockerfile-replay.mjs')], {cwd: REPO_ROOT, env: {...process.env, NODE_ENV: undefined}, stdio: ['ignore', 'pipe', 'pipe']})
      let out = ''
      p.stdout.on('data', (c: Buffer) => (out += c.toString()))
      p.stderr.on('data', (c: Buffer) => (out += c.toString()))
      p.on('close', (code) => resolve({code, out}))
    })
    expect(r.code, r.out).toBe(0)
    expect(r.out).toContain('[replay] HEALTHCHECK tavern status')
    expect(r.out).toMatch(/\[replay\] ok: /)
  }, 600_000)
})
