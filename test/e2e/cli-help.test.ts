// The CLI's habits: `tavern help <command>`, a mistyped command that names the right one (never a prompt, never
// running the guess), and shell completion that completes our commands and flags.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {expect, it} from 'vitest'

import {makeTempDir, runCli} from '../helpers/daemon.js'

it.concurrent('tavern help purge prints purge\'s help', async () => {
  const r = await runCli(['help', 'purge'])
  expect(r.code, r.stderr).toBe(0)
  expect(r.stdout).toContain('USAGE\n  $ tavern purge')
  expect(r.stdout).toContain('--expire')
  const topic = await runCli(['help', 'config', 'check'])
  expect(topic.code, topic.stderr).toBe(0)
  expect(topic.stdout).toContain('$ tavern config check')
}, 40_000)

it.concurrent('a mistyped command suggests the right one and exits 2 without running it', async () => {
  const sock = path.join(makeTempDir(), 'none.sock')
  const r = await runCli(['purg', '--dir', 'http://h/', '--socket', sock])
  expect(r.code).toBe(2)
  expect(r.stderr).toBe('tavern: purg is not a tavern command. Did you mean `tavern purge`?\nRun `tavern help` for a list of commands.\n')
  // purge did not run (it would have failed to reach the daemon: exit 3).
  expect(r.stdout).toBe('')
  const cases = [
    [['stauts'], 'status'],
    [['config', 'chek'], 'config check'],
    [['confg', 'check'], 'config check'],
    [['inspect'], 'inspect-key'],
  ] as const
  const runs = await Promise.all(cases.map(([typed]) => runCli([...typed])))
  runs.forEach((x, i) => {
    expect(x.code, cases[i]![0].join(' ')).toBe(2)
    expect(x.stderr).toContain(`Did you mean \`tavern ${cases[i]![1]}\`?`)
  })
  const none = await runCli(['zzzz'])
  expect(none.code).toBe(2)
  expect(none.stderr).toBe('tavern: zzzz is not a tavern command.\nRun `tavern help` for a list of commands.\n')
}, 40_000)

it.concurrent('shell completion: the bash script completes commands, topics and flags', async () => {
  const home = makeTempDir()
  const env = {HOME: home, XDG_CACHE_HOME: path.join(home, '.cache')}
  const script = await runCli(['autocomplete', 'script', 'bash'], {env})
  expect(script.code, script.stderr).toBe(0)
  expect(script.stdout).toContain('TAVERN_AC_BASH_SETUP_PATH=')
  const setup = await runCli(['autocomplete', 'bash'], {env, timeoutMs: 30_000})
  expect(setup.code, setup.stderr).toBe(0)
  expect(setup.stdout).toContain('tavern autocomplete script bash')
  const file = path.join(home, '.cache/tavern/autocomplete/bash_setup')
  expect(fs.existsSync(file)).toBe(true)
  const complete = (words: string[]) => {
    const r = spawnSync('bash', ['-c', `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _tavern_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`], {encoding: 'utf8'})
    expect(r.status, r.stderr).toBe(0)
    return r.stdout.split('\n').filter(Boolean)
  }
  expect(complete(['tavern', 'pur'])).toEqual(['purge'])
  expect(complete(['tavern', 'purge', '--ex'])).toEqual(['--expire'])
  expect(complete(['tavern', 'config', 'ch'])).toEqual(['check'])
  expect(complete(['tavern', 'serve', '--acc'])).toEqual(['--access-log'])
}, 40_000)
