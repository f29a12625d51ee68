/**
 * zod helpers for the units config values are written in (byte sizes, durations, HOST:PORT): the one place their
 * syntax and messages are defined, used by schema.ts and by the fragments that live next to the code they configure.
 */
import {z} from 'zod'

import {parseBytes, parseDurationMs, parseHostPort} from './sizes.js'

/** A byte size (`4096`, `"512MiB"`, `"10GB"`) → bytes. */
export const bytes = (def: string | number) =>
  z
    .union([z.string(), z.number()])
    .default(def)
    .transform((v, ctx) => {
      const n = parseBytes(v)
      if (n === undefined) {
        ctx.addIssue({code: 'custom', message: `not a byte size: ${JSON.stringify(v)} (use e.g. 1048576, "512MiB", "10GB")`})
        return z.NEVER
      }
      return n
    })

function toMs(v: string | number, ctx: z.RefinementCtx): number {
  const n = parseDurationMs(v)
  if (n === undefined) {
    ctx.addIssue({code: 'custom', message: `not a duration: ${JSON.stringify(v)} (use e.g. 500, "500ms", "30s", "5m")`})
    return z.NEVER
  }
  return n
}

/** A duration (`500`, `"500ms"`, `"30s"`, `"5m"`) → milliseconds. */
export const duration = (def: string | number) =>
  z
    .union([z.string(), z.number()])
    .default(def)
    .transform((v, ctx) => toMs(v, ctx))

/** Like duration, without a default (the key may be absent). */
export const optionalDuration = () =>
  z
    .union([z.string(), z.number()])
    .optional()
    .transform((v, ctx) => (v === undefined ? undefined : toMs(v, ctx)))

export const hostPort = z.string().refine((v) => parseHostPort(v) !== undefined, {message: 'expected HOST:PORT, e.g. 127.0.0.1:8080'})
