/**
 * Replacing the active plugin set without pulling it from under running requests. A request keeps the set it
 * arrived with (ctx.hooks); requests are counted per generation, and a replaced set is closed once every request
 * of its generation is over (the response closed: finished, or the client gone). Also closes whatever is left at
 * shutdown.
 */
import type {ServerResponse} from 'node:http'

import type {HookSet} from '../core/hooks.js'

/** The requests that arrived while one set was active; `leave` is made once per generation (no closure per request). */
class Generation {
  n = 0
  drained: (() => void) | undefined = undefined
  readonly leave = (): void => {
    if (--this.n === 0) this.drained?.()
  }
}

export class PluginSetHandover {
  private gen = new Generation()
  private readonly retiring = new Set<Promise<void>>()

  constructor(
    private active: HookSet,
    private readonly onCloseError: (error: unknown, set: HookSet) => void,
  ) {}

  get current(): HookSet {
    return this.active
  }

  /** Count a request of the current generation (call when it arrives, before the handler reads `current`). */
  enter(res: ServerResponse): void {
    const g = this.gen
    g.n++
    // 'close' is emitted once per response (finished or cut).
    res.on('close', g.leave)
  }

  /** Make `next` the active set; the old one is closed once the requests that arrived with it are over. */
  swap(next: HookSet): void {
    const old = this.active
    const g = this.gen
    this.active = next
    this.gen = new Generation()
    const idle = g.n === 0 ? Promise.resolve() : new Promise<void>((resolve) => (g.drained = resolve))
    const closed: Promise<void> = idle
      .then(() => old.close())
      .catch((error: unknown) => this.onCloseError(error, old))
      .finally(() => this.retiring.delete(closed))
    this.retiring.add(closed)
  }

  /** Shutdown (requests are drained by then): close the active set and any retired one still waiting. */
  async close(): Promise<void> {
    await Promise.allSettled([this.active.close(), ...this.retiring])
  }
}
