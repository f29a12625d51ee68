/**
 * The live request log (`tavern log --follow`, GET /log/stream): finished requests fanned out to the clients that
 * follow, each through its own filter. Bounded everywhere: a follower that does not read has at most MAX_QUEUED_BYTES
 * waiting for it; beyond that its lines are dropped and counted (it is told how many), so a slow reader never slows
 * the data plane or grows the daemon's memory. With nobody following, `active` is false and the request path builds
 * nothing.
 */
import type {LiveRequest, RequestTap} from '../core/services.js'
import type {LiveFilter} from './live-filter.js'

/** Lines one follower may have waiting (formatted, unsent) before new ones are dropped. */
export const MAX_QUEUED_BYTES = 1024 * 1024
/** Followers at once (each costs a JSON line per matching request). */
export const MAX_FOLLOWERS = 16

/** Where a follower's lines go: `write` returns false when the reader is behind (like a stream's write). */
export interface FollowerSink {
  write(text: string): boolean
}

export class Follower {
  /** Lines waiting for the reader, formatted. */
  private queue: string[] = []
  private queuedBytes = 0
  private blocked = false
  /** Lines dropped since the last time the reader was told. */
  dropped = 0
  /** Lines dropped since it started following. */
  droppedTotal = 0

  constructor(
    private readonly sink: FollowerSink,
    private readonly filter: LiveFilter,
  ) {}

  offer(e: LiveRequest): void {
    if (!this.filter(e)) return
    const line = JSON.stringify({type: 'request', ...e}) + '\n'
    if (this.blocked) {
      if (this.queuedBytes + line.length > MAX_QUEUED_BYTES) {
        this.dropped++
        this.droppedTotal++
        return
      }
      this.queue.push(line)
      this.queuedBytes += line.length
      return
    }
    if (!this.sink.write(line)) this.blocked = true
  }

  /** The reader caught up ('drain'): send what waits, and say how many lines it missed. */
  drained(): void {
    this.blocked = false
    if (this.dropped > 0) {
      const note = JSON.stringify({type: 'dropped', count: this.dropped, total: this.droppedTotal}) + '\n'
      this.dropped = 0
      this.queue.unshift(note)
    }
    while (this.queue.length > 0 && !this.blocked) {
      const line = this.queue.shift()!
      this.queuedBytes -= line.length
      if (!this.sink.write(line)) this.blocked = true
    }
    if (this.queue.length === 0) this.queuedBytes = 0
  }
}

export class LiveLog implements RequestTap {
  private readonly followers = new Set<Follower>()

  get active(): boolean {
    return this.followers.size > 0
  }

  get count(): number {
    return this.followers.size
  }

  /** Start following; undefined when MAX_FOLLOWERS already do. */
  follow(sink: FollowerSink, filter: LiveFilter): Follower | undefined {
    if (this.followers.size >= MAX_FOLLOWERS) return undefined
    const f = new Follower(sink, filter)
    this.followers.add(f)
    return f
  }

  unfollow(f: Follower): void {
    this.followers.delete(f)
  }

  record(e: LiveRequest): void {
    for (const f of this.followers) {
      try {
        f.offer(e)
      } catch {
        // A follower's failure (its socket) is its own; the request and the other followers go on.
      }
    }
  }
}
