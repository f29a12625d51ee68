import type {LimitDecision, LimitSpec} from './types.js'

/** Where limit states live. `local` answers synchronously (no promise on the hot path); `redis` is shared by nodes. */
export interface LimiterStore {
  readonly kind: 'local' | 'redis'
  /** Take `cost` from limit `id` (rule + key) under `spec`. */
  decide(id: string, spec: LimitSpec, cost: number): StoreDecision | Promise<StoreDecision>
  close(): Promise<void>
}

export interface StoreDecision extends LimitDecision {
  /** Who decided: Redis, this node (local store), or this node standing in for an unreachable Redis. */
  source: 'local' | 'redis' | 'fallback' | 'fail-closed'
}
