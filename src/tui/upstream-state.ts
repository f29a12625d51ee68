import type {UpstreamHealth} from '../core/origin.js'

/**
 * The resilience state of one upstream in a few words, for `tavern top` and `tavern status`: breaker state when it
 * is not closed, ejection, a failing health check, a backup, the latency EWMA. '' when there is nothing to say.
 */
export function upstreamStateWords(u: UpstreamHealth, o: {breaker?: boolean; now?: number} = {}): string {
  const now = o.now ?? Date.now()
  const parts: string[] = []
  if (u.backup) parts.push('backup')
  if (u.probeUp === false) parts.push('health check failing')
  if (u.ejected) parts.push(u.ejectedUntil !== undefined ? `ejected ${Math.max(0, Math.ceil((u.ejectedUntil - now) / 1000))}s` : 'ejected')
  if (o.breaker !== false && u.breaker && u.breaker.state !== 'closed') parts.push(`breaker ${u.breaker.state}`)
  if (u.ewmaMs !== undefined) parts.push(`ewma ${u.ewmaMs < 10 ? u.ewmaMs.toFixed(1) : Math.round(u.ewmaMs)}ms`)
  return parts.join(', ')
}
