import {pino, type Logger} from 'pino'

import {LogDestination, makeStdioNonBlocking} from './log-destination.js'

export type {Logger}

let stdout: LogDestination | undefined

/**
 * The daemon's stdout (daemon log, and the access log when it goes to stdout): one destination, so lines from both
 * never interleave mid-line, and one place that survives a reader that went away.
 */
export function stdoutDestination(): LogDestination {
  if (!stdout) {
    makeStdioNonBlocking()
    stdout = new LogDestination(1)
  }
  return stdout
}

/** Daemon log: JSON lines on stdout (systemd/journald style); writes are asynchronous so logging never blocks requests. */
export function createLogger(level: string, dest: LogDestination = stdoutDestination()): Logger {
  return pino({level, base: {pid: process.pid}}, dest)
}

/** A pino-shaped JSON line (level 60 = fatal), built without pino: used where no asynchronous write can happen any more. */
export function fatalLine(msg: string, fields: Record<string, unknown> = {}): string {
  const err = fields.err
  const out: Record<string, unknown> = {level: 60, time: Date.now(), pid: process.pid, ...fields}
  if (err !== undefined) out.err = serializeError(err)
  out.msg = msg
  try {
    return `${JSON.stringify(out)}\n`
  } catch {
    return `${JSON.stringify({level: 60, time: Date.now(), pid: process.pid, msg})}\n`
  }
}

function serializeError(err: unknown): unknown {
  if (err instanceof Error) {
    const e = err as Error & {code?: unknown}
    return {type: e.name, message: e.message, stack: e.stack, ...(e.code !== undefined ? {code: e.code} : {})}
  }
  try {
    return {type: typeof err, message: String(err)}
  } catch {
    return {type: typeof err, message: '(unprintable)'}
  }
}
