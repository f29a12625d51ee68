/**
 * The dashboard's part of the start-up checks (src/config/preflight.ts: `serve` and `tavern config check`): the token
 * file is usable, and dashboard.listen does not take the data plane's port.
 */
import type {TavernConfig} from '../config/schema.js'
import {parseHostPort} from '../config/sizes.js'
import {readDashboardToken} from './token-file.js'

const WILDCARD = new Set(['0.0.0.0', '::', '*'])

export async function dashboardPreflight(c: TavernConfig): Promise<string[]> {
  const d = c.dashboard
  if (!d.enabled) return []
  const problems: string[] = []
  if (d.tokenFile !== undefined) {
    try {
      await readDashboardToken(d.tokenFile)
    } catch (error) {
      problems.push(`dashboard.tokenFile: ${(error as Error).message}`)
    }
  }
  const a = d.listen ? parseHostPort(d.listen) : undefined
  for (const l of c.listen) {
    const b = parseHostPort(l.address)
    if (a && b && a.port !== 0 && a.port === b.port && (a.host === b.host || WILDCARD.has(a.host) || WILDCARD.has(b.host))) {
      problems.push(`dashboard.listen: ${d.listen} is the same port as listen (${l.address}); give the dashboard a port of its own`)
    }
  }
  return problems
}
