import {decision, type LimitSpec, type StepResult} from './types.js'

/**
 * Token bucket: `burst` tokens, refilled at `limit / window`; a request takes `cost` tokens. Bursts up to `burst` go
 * through at once, then the refill rate holds. With `maxDelayMs`, a request may borrow tokens that will have refilled
 * within that time (the bucket goes negative) and waits for them: Go's rate.Limiter Reserve.
 * State: [tokens, at].
 */
export function tokenBucketStep(state: readonly number[] | undefined, now: number, spec: LimitSpec, cost: number): StepResult {
  const rate = spec.limit / spec.windowMs
  const cap = spec.burst
  let tokens = state ? Math.min(cap, state[0]! + Math.max(0, now - state[1]!) * rate) : cap
  let allowed = false
  let delayMs = 0
  let retryAfterMs = 0
  if (tokens >= cost) {
    tokens -= cost
    allowed = true
  } else {
    const wait = (cost - tokens) / rate
    if (cost <= cap && spec.maxDelayMs > 0 && wait <= spec.maxDelayMs) {
      tokens -= cost
      allowed = true
      delayMs = wait
    } else retryAfterMs = cost > cap ? spec.windowMs : wait - spec.maxDelayMs
  }
  const resetMs = (cap - tokens) / rate
  return {state: [tokens, now], decision: decision(allowed, Math.max(0, Math.floor(tokens)), retryAfterMs, resetMs, delayMs), ttlMs: Math.ceil(resetMs) + 1000}
}

/** The same step in Lua for Redis (KEYS[1] = state key; see redis-scripts.ts for the shared frame). */
export const TOKEN_BUCKET_LUA = `
local rate = limit / window
local cap = burst
local tokens = cap
if st then tokens = math.min(cap, tonumber(st[1]) + math.max(0, now - tonumber(st[2])) * rate) end
local allowed = 0
local delay = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  local wait = (cost - tokens) / rate
  if cost <= cap and maxdelay > 0 and wait <= maxdelay then
    tokens = tokens - cost
    allowed = 1
    delay = wait
  elseif cost > cap then
    retry = window
  else
    retry = wait - maxdelay
  end
end
local reset = (cap - tokens) / rate
local remaining = math.max(0, math.floor(tokens))
return finish({tokens, now}, allowed, remaining, retry, reset, delay, math.ceil(reset) + 1000)
`
