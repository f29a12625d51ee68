/**
 * zod helpers for the units config files use (durations, byte sizes), for config fragments that live beside the
 * modules they configure. Same syntax and messages as the ones in schema.ts.
 */
import {z} from 'zod'

import {parseDurationMs} from './sizes.js'

/** A duration ("30s", "500ms", "5m", or ms as a number) → ms. */
export const durationMs = (def: string | number) =>
  z
    .union([z.string(), z.number()])
    .default(def)
    .transform((v, ctx) => {
      const n = parseDurationMs(v)
      if (n === undefined) {
        ctx.addIssue({code: 'custom', message: `not a duration: ${JSON.stringify(v)} (use e.g. 500, "500ms", "30s", "5m")`})
        return z.NEVER
      }
      return n
    })

/** Like durationMs, without a default (the key may be absent). */
export const optionalDurationMs = () =>
  z
    .union([z.string(), z.number()])
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined
      const n = parseDurationMs(v)
      if (n === undefined) {
        ctx.addIssue({code: 'custom', message: `not a duration: ${JSON.stringify(v)} (use e.g. 500, "500ms", "30s", "5m")`})
        return z.NEVER
      }
      return n
    })
