/**
 * `dashboard`: the web dashboard (src/dashboard/, docs/dashboard.md). Served by the metrics worker thread, either on
 * `/dashboard/` of the `metrics.listen` listener or on a listener of its own (`dashboard.listen`).
 * The token file is read (and refused when unusable) by src/dashboard/token-file.ts at start and on reload.
 */
import {z} from 'zod'

import {parseHostPort} from './sizes.js'

const hostName = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9.-]+$/, 'must be a host name (letters, digits, dots and dashes; no port)')
  .transform((s) => s.toLowerCase())

export const DashboardSchema = z
  .strictObject({
    /** Serve the dashboard. */
    enabled: z.boolean().default(false),
    /** Its own listener HOST:PORT; unset: /dashboard/ on the metrics.listen listener. */
    listen: z.string().refine((v) => parseHostPort(v) !== undefined, {message: 'expected HOST:PORT, e.g. 127.0.0.1:9465'}).optional(),
    /** File holding the bearer token (owner-only, the token alone on one line, at least 16 characters). */
    tokenFile: z.string().min(1).optional(),
    /** Host names (besides IP literals and localhost) served without a token. */
    allowedHosts: z.array(hostName).default([]),
  })
  .prefault({})

export type DashboardConfig = z.output<typeof DashboardSchema>

/** Where the dashboard would be served, or why it cannot be: checked across keys (ConfigSchema's superRefine). */
export function checkDashboardPlacement(c: {dashboard: DashboardConfig; metrics: {listen?: string}}, ctx: z.RefinementCtx): void {
  const d = c.dashboard
  if (!d.enabled) return
  if (d.listen === undefined && c.metrics.listen === undefined) {
    ctx.addIssue({code: 'custom', path: ['dashboard', 'enabled'], message: 'the dashboard needs a listener: set dashboard.listen, or metrics.listen to serve it on /dashboard/ there'})
    return
  }
  if (d.listen !== undefined && c.metrics.listen !== undefined && sameEndpoint(d.listen, c.metrics.listen)) {
    ctx.addIssue({code: 'custom', path: ['dashboard', 'listen'], message: `is the metrics.listen address; leave dashboard.listen unset to serve the dashboard on /dashboard/ of the metrics listener`})
  }
  // Without a token, whoever can connect reads the data (top keys name URLs): loopback only.
  const served = d.listen ?? c.metrics.listen!
  // (A malformed address has its own issue; zod runs this refinement all the same.)
  const at = parseHostPort(served)
  if (d.tokenFile === undefined && at !== undefined && !isLoopback(at.host)) {
    const key = d.listen !== undefined ? 'listen' : 'tokenFile'
    const where = d.listen !== undefined ? 'dashboard.listen' : 'metrics.listen (where the dashboard is served)'
    ctx.addIssue({code: 'custom', path: ['dashboard', key], message: `${where} ${served} is not a loopback address: set dashboard.tokenFile, or bind to 127.0.0.1 / ::1`})
  }
}

function sameEndpoint(a: string, b: string): boolean {
  const x = parseHostPort(a)
  const y = parseHostPort(b)
  return x !== undefined && y !== undefined && x.port === y.port && x.port !== 0 && x.host === y.host
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}
