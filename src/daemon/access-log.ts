import path from 'node:path'

import {pino} from 'pino'

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
 * The access log: one JSON line per request through pino's asynchronous destination (SonicBoom), so writing it
 * never blocks a request: while one write is in flight, later lines are gathered and go out together.
 * Lines are serialized here directly (a fixed shape needs none of a logger's machinery). `reopen()` is for
 * log rotation (SIGUSR1).
 */
export class AccessLog {
  private readonly dest: ReturnType<typeof pino.destination>

  constructor(target: string, baseDir: string) {
    this.dest = pino.destination({dest: target === 'stdout' ? 1 : path.resolve(baseDir, target), sync: false, mkdir: true})
  }

  write(e: AccessEntry): void {
    this.dest.write(`{"time":"${new Date().toISOString()}",${JSON.stringify(e).slice(1)}\n`)
  }

  reopen(): void {
    this.dest.reopen()
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        this.dest.end()
        resolve()
      }
      try {
        this.dest.flush(end)
      } catch {
        end() // not open yet or already closed: nothing buffered to flush
      }
    })
  }
}
