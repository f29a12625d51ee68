import {decision, type LimitSpec, type StepResult} from './types.js'

/**
 * Leaky bucket as a queue (nginx limit_req, GCRA): requests leave at exactly `limit / window`, one every
 * T = window / limit. A request's wait is how far the queue ahead of it reaches; it is accepted while that wait fits
 * `burst` places (and `maxDelayMs` when it will actually be held), else refused. The `delay` action holds each
 * accepted request for its wait, which smooths bursts into the steady rate; `reject` serves it at once (nginx
 * `nodelay`). State: [tat] — the time the queue empties ("theoretical arrival time").
 */
export function leakyBucketStep(state: readonly number[] | undefined, now: number, spec: LimitSpec, cost: number): StepResult {
  const T = spec.windowMs / spec.limit
  const tat = Math.max(state ? state[0]! : now, now)
  const wait = tat - now + (cost - 1) * T
  const bound = spec.maxDelayMs > 0 ? Math.min(spec.burst * T, spec.maxDelayMs) : spec.burst * T
  if (wait <= bound + 1e-9) {
    const next = tat + cost * T
    return {
      state: [next],
      decision: decision(true, remainingOf(next - now, spec.burst, T), 0, next - now, spec.maxDelayMs > 0 ? Math.max(0, wait) : 0),
      ttlMs: Math.ceil(next - now) + 1000,
    }
  }
  return {
    state: [tat],
    decision: decision(false, remainingOf(tat - now, spec.burst, T), wait - bound, tat - now, 0),
    ttlMs: Math.ceil(tat - now) + 1000,
  }
}

/** Requests of cost 1 that would still be accepted now, with the queue reaching `ahead` ms. */
function remainingOf(ahead: number, burst: number, T: number): number {
  return Math.max(0, Math.min(burst + 1, Math.floor((burst * T - ahead) / T + 1e-9) + 1))
}

export const LEAKY_BUCKET_LUA = `
local T = window / limit
local tat = now
if st then tat = math.max(tonumber(st[1]), now) end
local wait = tat - now + (cost - 1) * T
local bound = burst * T
if maxdelay > 0 then bound = math.min(bound, maxdelay) end
local function rem(ahead)
  return math.max(0, math.min(burst + 1, math.floor((burst * T - ahead) / T + 1e-9) + 1))
end
if wait <= bound + 1e-9 then
  local nxt = tat + cost * T
  local delay = 0
  if maxdelay > 0 then delay = math.max(0, wait) end
  return finish({nxt}, 1, rem(nxt - now), 0, nxt - now, delay, math.ceil(nxt - now) + 1000)
end
return finish({tat}, 0, rem(tat - now), wait - bound, tat - now, 0, math.ceil(tat - now) + 1000)
`
