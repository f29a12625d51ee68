import {decision, type LimitSpec, type StepResult} from './types.js'

/**
 * Sliding window as a weighted two-window counter (Cloudflare's): the count of the current fixed window plus the
 * previous window's count weighted by how much of it the sliding window still covers. Chosen over a sliding log
 * (exact: one timestamp per request) because its state is three numbers whatever the limit — a limit of 10 000/min
 * keyed by client IP would otherwise hold up to 10 000 timestamps per IP, locally and in Redis (a ZSET with O(log n)
 * updates). Its error comes from assuming the previous window's requests were spread evenly; it never lets through
 * more than the limit in any one fixed window.
 * Refused requests do not count. State: [windowStart, current, previous].
 */
export function slidingWindowStep(state: readonly number[] | undefined, now: number, spec: LimitSpec, cost: number): StepResult {
  const W = spec.windowMs
  const start = Math.floor(now / W) * W
  let curr = 0
  let prev = 0
  if (state) {
    if (state[0] === start) {
      curr = state[1]!
      prev = state[2]!
    } else if (state[0] === start - W) prev = state[1]!
  }
  const elapsed = now - start
  const estimate = prev * (1 - elapsed / W) + curr
  const allowed = estimate + cost <= spec.limit + 1e-9
  let retryAfterMs = 0
  if (allowed) curr += cost
  else if (cost > spec.limit) retryAfterMs = 2 * W
  else if (curr + cost <= spec.limit) {
    // Within this window, once enough of the previous one has slid out.
    retryAfterMs = W * (1 - (spec.limit - cost - curr) / prev) - elapsed
  } else {
    // In the next window, where this window's count becomes the previous one.
    retryAfterMs = W - elapsed + W * (1 - (spec.limit - cost) / curr)
  }
  const after = prev * (1 - elapsed / W) + curr
  const resetMs = curr > 0 ? 2 * W - elapsed : prev > 0 ? W - elapsed : 0
  return {
    state: [start, curr, prev],
    decision: decision(allowed, Math.max(0, Math.floor(spec.limit - after + 1e-9)), Math.max(0, retryAfterMs), resetMs, 0),
    ttlMs: Math.ceil(2 * W - elapsed) + 1000,
  }
}

export const SLIDING_WINDOW_LUA = `
local start = math.floor(now / window) * window
local curr = 0
local prev = 0
if st then
  local s0 = tonumber(st[1])
  if s0 == start then
    curr = tonumber(st[2])
    prev = tonumber(st[3])
  elseif s0 == start - window then
    prev = tonumber(st[2])
  end
end
local elapsed = now - start
local estimate = prev * (1 - elapsed / window) + curr
local allowed = 0
local retry = 0
if estimate + cost <= limit + 1e-9 then
  allowed = 1
  curr = curr + cost
elseif cost > limit then
  retry = 2 * window
elseif curr + cost <= limit then
  retry = window * (1 - (limit - cost - curr) / prev) - elapsed
else
  retry = window - elapsed + window * (1 - (limit - cost) / curr)
end
local after = prev * (1 - elapsed / window) + curr
local reset = 0
if curr > 0 then reset = 2 * window - elapsed elseif prev > 0 then reset = window - elapsed end
return finish({start, curr, prev}, allowed, math.max(0, math.floor(limit - after + 1e-9)), math.max(0, retry), reset, 0, math.ceil(2 * window - elapsed) + 1000)
`
