import type {ServerResponse} from 'node:http'

/** An NDJSON answer on the admin socket: one JSON value per line, flushed as written, honouring backpressure. */
export class NdjsonWriter {
  private closed = false

  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, {'content-type': 'application/x-ndjson', 'cache-control': 'no-store'})
    res.once('close', () => {
      this.closed = true
    })
  }

  /** True once the client went away: stop working. */
  get aborted(): boolean {
    return this.closed && !this.res.writableFinished
  }

  async write(value: unknown): Promise<void> {
    if (this.closed || this.res.writableEnded) return
    if (!this.res.write(JSON.stringify(value) + '\n')) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.res.off('drain', done)
          this.res.off('close', done)
          resolve()
        }
        this.res.once('drain', done)
        this.res.once('close', done)
      })
    }
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end()
  }
}
