import path from 'node:path'

import {pino, type Logger} from 'pino'

export interface AccessEntry {
  reqId: string
  client: string | undefined
  method: string | undefined
  host: string | undefined
  path: string | undefined
  status: number
  bytes: number
  durationMs: number
  cache: string
  upstreamMs: number | undefined
}

/**
 * The access log: one JSON line per request through pino's asynchronous destination,
 * so writing it never blocks a request. `reopen()` is for log rotation (SIGUSR1).
 */
export class AccessLog {
  private readonly dest: ReturnType<typeof pino.destination>
  private readonly logger: Logger

  constructor(target: string, baseDir: string) {
    this.dest = pino.destination({dest: target === 'stdout' ? 1 : path.resolve(baseDir, target), sync: false, mkdir: true, minLength: 4096})
    this.logger = pino({base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: {level: () => ({})}}, this.dest)
  }

  write(e: AccessEntry): void {
    this.logger.info(e)
  }

  reopen(): void {
    this.dest.reopen()
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.dest.flush(() => {
        this.dest.end()
        resolve()
      })
    })
  }
}
