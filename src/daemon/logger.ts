import fs from 'node:fs'

import {pino, type DestinationStream, type Logger} from 'pino'

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

/** syslog severity (RFC 5424; journald's PRIORITY=) of each pino level number. */
const PRIORITY: Readonly<Record<number, number>> = {10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2}
const priorityOf = (levelNumber: number): number => PRIORITY[levelNumber] ?? 6

/**
 * Whether `fd` is connected to the journal: systemd sets JOURNAL_STREAM=<dev>:<inode> of the stream it gave the
 * service (StandardOutput=journal, the default), and the descriptor must still be that stream (not redirected).
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '')
  if (!m) return false
  try {
    const st = fs.fstatSync(fd, {bigint: true})
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!)
  } catch {
    return false
  }
}

/**
 * Each line prefixed with its syslog priority (`<4>{"level":"warn",…}`): journald takes the prefix off and records it
 * as PRIORITY (SyslogLevelPrefix=yes, the default), so `journalctl -p warning` works and MESSAGE stays one JSON
 * document. pino hands a stream that asks for metadata the level of the line it is about to write: no parsing.
 */
function journalPrefixed(dest: LogDestination): DestinationStream {
  const stream = {
    [Symbol.for('pino.metadata')]: true,
    lastLevel: 30,
    write(line: string): boolean {
      return dest.write(`<${priorityOf(stream.lastLevel)}>${line}`)
    },
    flush(cb?: (err?: Error) => void): void {
      dest.flush(cb)
    },
  }
  return stream
}

export interface LoggerOptions {
  /** Prefix lines with `<N>` priorities for journald; default: when `dest` is the journal stream (JOURNAL_STREAM). */
  journal?: boolean
}

/**
 * Daemon log: JSON lines on stdout; writes are asynchronous so logging never blocks requests. The level is a name and
 * a syslog priority (`"level":"warn","priority":4`), not pino's numbers, so people, journald and log shippers read
 * it the same way; under systemd each line also carries its priority for the journal (see journalPrefixed).
 */
export function createLogger(level: string, dest: LogDestination = stdoutDestination(), opts: LoggerOptions = {}): Logger {
  const journal = opts.journal ?? isJournalStream(dest.fd)
  return pino(
    {
      level,
      base: {pid: process.pid},
      // pino caches the formatted level per level, so this costs nothing per line.
      formatters: {level: (label, number) => ({level: label, priority: priorityOf(number)})},
    },
    journal ? journalPrefixed(dest) : dest,
  )
}

/**
 * A JSON line shaped like the logger's (`"level":"fatal","priority":2`), built without pino: used where no
 * asynchronous write can happen any more. For `fd` connected to the journal, prefixed with `<2>` like pino's lines.
 */
export function fatalLine(msg: string, fields: Record<string, unknown> = {}, fd?: number): string {
  const prefix = fd !== undefined && isJournalStream(fd) ? `<${priorityOf(60)}>` : ''
  const err = fields.err
  const out: Record<string, unknown> = {level: 'fatal', priority: priorityOf(60), time: Date.now(), pid: process.pid, ...fields}
  if (err !== undefined) out.err = serializeError(err)
  out.msg = msg
  try {
    return `${prefix}${JSON.stringify(out)}\n`
  } catch {
    return `${prefix}${JSON.stringify({level: 'fatal', priority: priorityOf(60), time: Date.now(), pid: process.pid, msg})}\n`
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
