import {FIXED_WINDOW_LUA, fixedWindowStep} from './fixed-window.js'
import {LEAKY_BUCKET_LUA, leakyBucketStep} from './leaky-bucket.js'
import {SLIDING_WINDOW_LUA, slidingWindowStep} from './sliding-window.js'
import {TOKEN_BUCKET_LUA, tokenBucketStep} from './token-bucket.js'
import type {Algorithm, LimitSpec, StepResult} from './types.js'

export type Step = (state: readonly number[] | undefined, now: number, spec: LimitSpec, cost: number) => StepResult

export const STEPS: Readonly<Record<Algorithm, Step>> = {
  'token-bucket': tokenBucketStep,
  'leaky-bucket': leakyBucketStep,
  'sliding-window': slidingWindowStep,
  'fixed-window': fixedWindowStep,
}

/**
 * One Lua script per algorithm, run atomically by Redis: reads the state (a string of numbers), takes the clock from
 * Redis `TIME` (so every node agrees on it) unless a test passes one, runs the step and writes the state back with
 * its expiry. KEYS[1] = state key; ARGV = limit, windowMs, burst, maxDelayMs, cost, nowMs ('' = Redis TIME).
 * Returns {allowed, remaining, retryAfterMs, resetMs, delayMs} as strings (Redis would truncate Lua numbers).
 */
const FRAME = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local maxdelay = tonumber(ARGV[4])
local cost = tonumber(ARGV[5])
local now
if ARGV[6] ~= '' then now = tonumber(ARGV[6]) else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local st = nil
local raw = redis.call('GET', KEYS[1])
if raw then
  st = {}
  for v in string.gmatch(raw, '%S+') do st[#st + 1] = v end
end
local function finish(state, allowed, remaining, retry, reset, delay, ttl)
  local parts = {}
  for i, v in ipairs(state) do parts[i] = string.format('%.17g', v) end
  redis.call('SET', KEYS[1], table.concat(parts, ' '), 'PX', math.max(1, ttl))
  return {tostring(allowed), tostring(remaining), string.format('%.17g', retry), string.format('%.17g', reset), string.format('%.17g', delay)}
end
`

export const LUA: Readonly<Record<Algorithm, string>> = {
  'token-bucket': FRAME + TOKEN_BUCKET_LUA,
  'leaky-bucket': FRAME + LEAKY_BUCKET_LUA,
  'sliding-window': FRAME + SLIDING_WINDOW_LUA,
  'fixed-window': FRAME + FIXED_WINDOW_LUA,
}
