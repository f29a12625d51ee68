import type {LimitSpec, SourcedDecision} from './types.js'

/** Where limit states live. `local` answers synchronously (no promise on the hot path); `redis` is shared by nodes. */
export interface LimiterStore {
  readonly kind: 'local' | 'redis'
  /** Take `cost` from the limit of `key` under rule `rule` (rules have separate key spaces). */
  decide(rule: string, key: string, spec: LimitSpec, cost: number): StoreDecision | Promise<StoreDecision>
  close(): Promise<void>
}

export type StoreDecision = SourcedDecision
