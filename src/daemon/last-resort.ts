import fs from 'node:fs'

import {writeSyncWithin} from './log-destination.js'
import {fatalLine, stdoutDestination} from './logger.js'

/** Time for the last line on stdout, then on stderr: a full pipe is retried this long, never longer. */
const STDOUT_BUDGET_MS = 500
const STDERR_BUDGET_MS = 300

function sameFile(a: number, b: number): boolean {
  try {
    const x = fs.fstatSync(a)
    const y = fs.fstatSync(b)
    return x.dev === y.dev && x.ino === y.ino
  } catch {
    return false
  }
}

/**
 * End the process now: one fatal JSON line, written synchronously (stdout, and stderr unless it is the same file),
 * then SIGKILL to ourselves. Not process.exit(): exit joins libuv's thread pool, and a pool thread that waits for JS
 * (lmdb-js's write worker waiting for its callbacks) or sits in write(2) on a stalled pipe never returns, which wedged
 * the process with its port open. A kill leaves LMDB as after a power cut (it is crash-safe) and tells a supervisor the
 * process failed (killed by signal 9; exit status 137 in a shell).
 */
export function hardExit(msg: string, fields: Record<string, unknown> = {}): never {
  try {
    const all = {...fields, exit: 'SIGKILL'}
    try {
      stdoutDestination().writeFinalSync(fatalLine(msg, all, 1), STDOUT_BUDGET_MS)
    } catch {
      // a closed stdout must not keep us from ending
    }
    try {
      if (!sameFile(1, 2)) writeSyncWithin(2, fatalLine(msg, all, 2), Date.now() + STDERR_BUDGET_MS)
    } catch {
      // nor a closed stderr
    }
  } finally {
    process.kill(process.pid, 'SIGKILL')
  }
  // SIGKILL to ourselves does not return; this is for the type checker (and a platform where it somehow did).
  process.abort()
}

let installed = false

/**
 * The last resort: an exception or rejection nobody handled means the process state is unknown, so it logs one fatal
 * line and ends within a second (hardExit), for the supervisor to restart it. Installed once, by `serve`.
 */
export function installLastResort(): void {
  if (installed) return
  installed = true
  process.on('uncaughtException', (err) => hardExit('uncaught exception: ending the process now', {err}))
  process.on('unhandledRejection', (reason) => hardExit('unhandled promise rejection: ending the process now', {err: reason}))
}
