import {decision, type LimitSpec, type StepResult} from './types.js'

/**
 * Fixed window: at most `limit` per window, windows aligned to the epoch (every node and Redis agree where they
 * start). Simple and cheap, but a client can spend a full quota at the end of one window and again at the start of
 * the next (2 × limit within one window's length): use the sliding window where that matters.
 * Refused requests do not count. State: [windowStart, count].
 */
export function fixedWindowStep(state: readonly number[] | undefined, now: number, spec: LimitSpec, cost: number): StepResult {
  const W = spec.windowMs
  const start = Math.floor(now / W) * W
  let count = state && state[0] === start ? state[1]! : 0
  const allowed = count + cost <= spec.limit
  if (allowed) count += cost
  const left = start + W - now
  return {
    state: [start, count],
    decision: decision(allowed, Math.max(0, spec.limit - count), allowed ? 0 : cost > spec.limit ? W : left, left, 0),
    ttlMs: Math.ceil(left) + 1000,
  }
}

export const FIXED_WINDOW_LUA = `
local start = math.floor(now / window) * window
local count = 0
if st and tonumber(st[1]) == start then count = tonumber(st[2]) end
local allowed = 0
if count + cost <= limit then
  allowed = 1
  count = count + cost
end
local left = start + window - now
local retry = 0
if allowed == 0 then
  if cost > limit then retry = window else retry = left end
end
return finish({start, count}, allowed, math.max(0, limit - count), retry, left, 0, math.ceil(left) + 1000)
`
