#!/usr/bin/env node
// Replays the Dockerfile without a container runtime: each stage gets a directory standing for its file system, COPY
// copies from the build context (minus .dockerignore) or from an earlier stage, RUN runs in the stage's WORKDIR with
// its ENV. The last stage's RUN lines set up users and links in the image's system directories and are skipped (they
// are listed). Then the image's ENTRYPOINT and HEALTHCHECK are tried on the result: `config check`, `serve`, the
// health check against it, SIGTERM. Exit 0 when all of it worked.
//
//   node scripts/dockerfile-replay.mjs [--keep]      (the test suite runs it in CI: test/packaging/dockerfile.test.ts)
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {parseDockerfile, dockerignoreMatcher} from './dockerfile.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const keep = process.argv.includes('--keep')
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-docker-replay-'))
const say = (s) => console.log(`[replay] ${s}`)

function copyInto(src, dest, ignored, rel = '') {
  const st = fs.statSync(src)
  if (st.isDirectory()) {
    fs.mkdirSync(dest, {recursive: true})
    for (const name of fs.readdirSync(src)) {
      const r = rel ? `${rel}/${name}` : name
      if (ignored(r)) continue
      copyInto(path.join(src, name), path.join(dest, name), ignored, r)
    }
  } else {
    fs.mkdirSync(path.dirname(dest), {recursive: true})
    fs.copyFileSync(src, dest)
    fs.chmodSync(dest, st.mode & 0o777)
  }
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, {stdio: 'inherit', ...opts})
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`)
}

const {stages} = parseDockerfile(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))
const ignoredByContext = dockerignoreMatcher(fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8'))
const roots = new Map()
try {
  stages.forEach((stage, i) => {
    const last = i === stages.length - 1
    const root = path.join(work, stage.name ?? `stage${i}`)
    fs.mkdirSync(root, {recursive: true})
    roots.set(stage.name ?? String(i), root)
    let workdir = '/'
    const env = {}
    const inStage = (p) => path.join(root, path.posix.resolve(workdir, p))
    say(`stage ${stage.name ?? i}: FROM ${stage.from}`)
    for (const ins of stage.instructions) {
      if (ins.op === 'WORKDIR') {
        workdir = path.posix.resolve(workdir, ins.args)
        fs.mkdirSync(inStage('.'), {recursive: true})
      } else if (ins.op === 'ENV') {
        for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '')
      } else if (ins.op === 'COPY') {
        const parts = ins.args.split(/\s+/)
        const from = parts[0].startsWith('--from=') ? parts.shift().slice('--from='.length) : undefined
        const dest = parts.pop()
        for (const src of parts) {
          const source = from ? path.join(roots.get(from), src) : path.join(ROOT, src)
          if (!from && ignoredByContext(path.relative(ROOT, source))) throw new Error(`COPY ${src}: excluded by .dockerignore`)
          const intoDir = dest.endsWith('/') || parts.length > 1 || fs.statSync(source).isDirectory()
          const target = intoDir && !fs.statSync(source).isDirectory() ? path.join(inStage(dest), path.basename(src)) : inStage(dest)
          copyInto(source, target, from ? () => false : (r) => ignoredByContext(path.posix.join(path.relative(ROOT, source), r)))
        }
        say(`  COPY ${ins.args}`)
      } else if (ins.op === 'RUN') {
        if (last) {
          say(`  RUN (system set-up in the image, skipped): ${ins.args.replace(/\s+/g, ' ').slice(0, 100)}…`)
          continue
        }
        say(`  RUN ${ins.args}`)
        run('sh', ['-c', ins.args], {cwd: inStage('.'), env: {...process.env, ...env}})
      }
    }
    stage.workdir = workdir
    stage.root = root
  })

  // The image: ENTRYPOINT and HEALTHCHECK of the last stage, with the paths mapped into its directory.
  const image = stages.at(-1)
  const entry = image.instructions.find((i) => i.op === 'ENTRYPOINT')
  const health = image.instructions.find((i) => i.op === 'HEALTHCHECK')
  const bin = path.join(image.root, 'opt/tavern/bin/run.js')
  const cwd = path.join(image.root, image.workdir)
  const env = {...process.env, NODE_ENV: 'production', NO_COLOR: '1'}
  const sock = path.join(work, 'admin.sock')
  const flags = ['--upstream', 'http://127.0.0.1:9', '--storage', path.join(work, 'storage'), '--socket', sock, '--listen', '127.0.0.1:0']
  const tavern = (argv) => [bin, ...argv.slice(1)]
  const entryArgv = JSON.parse(entry.args)
  const healthArgv = JSON.parse(health.args.replace(/^.*?CMD\s+/, ''))
  say(`config check in ${image.workdir} (the image's config)`)
  run(process.execPath, [bin, 'config', 'check', ...flags], {cwd, env})
  say(`ENTRYPOINT ${entryArgv.join(' ')}`)
  const daemon = spawn(process.execPath, [...tavern(entryArgv), ...flags], {cwd, env, stdio: ['ignore', 'pipe', 'inherit']})
  let out = ''
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not get ready:\n${out}`)), 60_000)
    daemon.stdout.on('data', (c) => {
      out += c
      if (out.includes('"msg":"tavern ready"')) {
        clearTimeout(timer)
        resolve()
      }
    })
    daemon.once('exit', (code) => reject(new Error(`serve exited (${code}):\n${out}`)))
  })
  say(`HEALTHCHECK ${healthArgv.join(' ')}`)
  run(process.execPath, [...tavern(healthArgv), '--socket', sock], {cwd, env})
  daemon.kill('SIGTERM')
  const code = await new Promise((r) => daemon.once('exit', (c) => r(c)))
  if (code !== 0) throw new Error(`serve exited ${code} after SIGTERM`)
  const size = spawnSync('du', ['-sh', image.root], {encoding: 'utf8'}).stdout.split('\t')[0]
  say(`ok: the image's file system would hold ${size} (node:20-bookworm-slim not counted)`)
} catch (error) {
  console.error(`[replay] FAILED: ${error.message}`)
  process.exitCode = 1
} finally {
  if (keep) say(`kept ${work}`)
  else fs.rmSync(work, {recursive: true, force: true})
}
