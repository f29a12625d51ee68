/**
 * The one runner for background work (fills no client waits for, slice fetches, refreshes, eviction, GC, warming,
 * file cleanup). A task's failure is caught, logged once and counted by name; it never becomes an unhandled
 * rejection. `drain()` waits for what is running (shutdown), bounded by the caller.
 */
export interface BackgroundLog {
  warn(obj: object, msg?: string): void
}

export interface BackgroundCounts {
  running: number
  started: number
  failed: number
  /** Failures by task name (bounded: names are code constants, not data). */
  failedByName: Record<string, number>
}

export class BackgroundRunner {
  private readonly running = new Set<Promise<unknown>>()
  private started = 0
  private failed = 0
  private readonly failedByName = new Map<string, number>()

  constructor(private log?: BackgroundLog) {}

  /** Set the logger once the daemon has one (storage opens before the logger is passed around in tests). */
  setLog(log: BackgroundLog): void {
    this.log = log
  }

  /**
   * Run `task` (a function, or a promise already started) in the background. Returns a promise that always
   * resolves (with the result, or undefined on failure), so a caller may await it without a catch.
   */
  run<T>(name: string, task: Promise<T> | (() => Promise<T> | T)): Promise<T | undefined> {
    this.started++
    let p: Promise<T>
    try {
      p = typeof task === 'function' ? Promise.resolve(task()) : task
    } catch (error) {
      p = Promise.reject(error)
    }
    const tracked = p.then(
      (v) => v,
      (error: unknown) => {
        this.failed++
        this.failedByName.set(name, (this.failedByName.get(name) ?? 0) + 1)
        try {
          this.log?.warn({err: error, task: name}, 'background task failed')
        } catch {
          // a logger that throws must not turn a handled failure into an unhandled one
        }
        return undefined
      },
    )
    this.running.add(tracked)
    void tracked.finally(() => this.running.delete(tracked))
    return tracked
  }

  get size(): number {
    return this.running.size
  }

  counts(): BackgroundCounts {
    return {running: this.running.size, started: this.started, failed: this.failed, failedByName: Object.fromEntries(this.failedByName)}
  }

  /** Resolves when nothing runs any more (tasks started meanwhile are waited for too). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running])
  }
}
