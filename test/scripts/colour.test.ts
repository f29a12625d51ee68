// The test run's output has no colour escapes when it is not a terminal (a CI log, a pipe): vitest's colour library
// colours whenever TERM is not "dumb", so scripts/test-ci.mjs sets NO_COLOR unless the caller asked for colour.
import {spawn} from 'node:child_process'
import path from 'node:path'

import {expect, it} from 'vitest'

import {colourEnv} from '../../scripts/colour-env.mjs'
import {REPO_ROOT} from '../helpers/daemon.js'

it('NO_COLOR unless the output is a terminal or colour was asked for', () => {
  expect(colourEnv({TERM: 'xterm'}, false)).toEqual({NO_COLOR: '1'})
  expect(colourEnv({TERM: 'xterm'}, true)).toEqual({})
  expect(colourEnv({FORCE_COLOR: '1'}, false)).toEqual({})
  expect(colourEnv({NO_COLOR: ''}, true)).toEqual({})
})

it('npm test into a pipe: plain text, ending with the summary line', async () => {
  // A clean environment for the inner run: no vitest worker variables, a colour-capable TERM.
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^(VITEST|NODE_ENV$|NO_COLOR$|FORCE_COLOR$|TAVERN_TEST_SUMMARY$)/.test(k)) env[k] = v
  env.TERM = 'xterm-256color'
  const out = await new Promise<{code: number | null; text: string}>((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts/test-ci.mjs'), 'test/cache/vary.test.ts'], {cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
    let text = ''
    p.stdout.on('data', (c: Buffer) => (text += c.toString()))
    p.stderr.on('data', (c: Buffer) => (text += c.toString()))
    const timer = setTimeout(() => {
      p.kill('SIGKILL')
      reject(new Error(`inner test run did not finish:\n${text}`))
    }, 60_000)
    p.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, text})
    })
  })
  expect(out.code, out.text).toBe(0)
  expect(out.text).toMatch(/^\d+ passed, 0 failed$/m)
  expect(out.text).not.toContain('\x1b[')
}, 90_000)
