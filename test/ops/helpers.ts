/** Helpers for the ops end-to-end tests: run the built CLI against a daemon, with optional stdin. */
import {spawn} from 'node:child_process'

import {BIN, type CliResult, type DaemonHandle, REPO_ROOT} from '../helpers/daemon.js'

export interface OpsResult extends CliResult {
  /** stdout parsed as one JSON document (throws with the output when it is not). */
  json<T = any>(): T
}

/** `node bin/run.js ARGS… --socket <daemon socket>`; stdin is the given text (or empty). */
export function tavern(d: Pick<DaemonHandle, 'socket'> | string, args: string[], opts: {stdin?: string; timeoutMs?: number} = {}): Promise<OpsResult> {
  const socket = typeof d === 'string' ? d : d.socket
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args, '--socket', socket], {cwd: REPO_ROOT, env: {...process.env, NO_COLOR: '1'}, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timeoutMs = opts.timeoutMs ?? 20_000
    const timer = setTimeout(() => {
      p.kill('SIGKILL')
      reject(new Error(`tavern ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`))
    }, timeoutMs)
    p.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    p.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({
        code,
        signal,
        stdout,
        stderr,
        json() {
          try {
            return JSON.parse(stdout)
          } catch {
            throw new Error(`stdout of tavern ${args.join(' ')} is not one JSON document (exit ${code}):\n${stdout}\nstderr:\n${stderr}`)
          }
        },
      })
    })
    p.stdin.end(opts.stdin ?? '')
  })
}

/** A short human-readable dump for assertion messages. */
export function show(r: CliResult): string {
  return `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`
}
