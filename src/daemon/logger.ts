import {pino, type Logger} from 'pino'

export type {Logger}

/** Daemon log: JSON lines on stdout (systemd/journald style); stdout writes are async so logging never blocks requests. */
export function createLogger(level: string): Logger {
  return pino({level, base: {pid: process.pid}}, pino.destination({dest: 1, sync: false}))
}
