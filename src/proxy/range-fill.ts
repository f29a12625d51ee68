import type {Daemon} from '../daemon/daemon.js'
import type {RequestContext} from './request-context.js'

export interface RangeOutcome {
  outcome: 'hit' | 'miss' | 'error'
  status: number
  bytesOut: number
  key: string
}

/**
 * Range requests and HEADs for objects that are not stored complete (partial-object caching).
 * Placeholder: declines every request, so the pipeline fetches whole objects.
 */
export class RangeFills {
  constructor(readonly d: Daemon) {}

  /** Answer the request from (or into) a partial object, or return undefined to let the pipeline handle it. */
  async maybeHandle(_ctx: RequestContext, _key: string, _variant: string | undefined, _head: boolean): Promise<RangeOutcome | undefined> {
    return undefined
  }

  async close(): Promise<void> {}
}
