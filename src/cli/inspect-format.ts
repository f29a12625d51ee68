import {formatBytes, formatUptime} from '../util/format.js'
import type {InspectReply, VariantInfo} from '../admin/protocol.js'

function ago(iso: string, now: number): string {
  const s = Math.round((now - Date.parse(iso)) / 1000)
  return s >= 0 ? `${formatUptime(s)} ago` : `in ${formatUptime(-s)}`
}

/** A Vary selector for people: `accept-encoding=gzip & accept-language (absent)`. */
export function variantLabel(variant: string | null): string {
  if (variant === null) return 'nothing (Vary: * never matches)'
  if (variant === '') return '(no Vary)'
  return variant
    .split('&')
    .map((p) => (p.includes('=') ? p : `${p} (absent)`))
    .join(' & ')
}

function row(label: string, value: string): string {
  return `  ${label.padEnd(12)} ${value}`
}

function variantBlock(v: VariantInfo, now: number): string[] {
  const f = v.freshness
  const lines = [`variant ${variantLabel(v.variant)}${v.selected ? '   ← selected by the given headers' : ''}`]
  lines.push(row('status', `${v.status}${v.statusText ? ' ' + v.statusText : ''}`))
  lines.push(row('size', `${formatBytes(v.size)} (${v.size} bytes)`))
  lines.push(row('tier', v.tier === 'memory' ? 'memory + disk' : 'disk'))
  lines.push(row('stored', `${v.storedAt} (${ago(v.storedAt, now)})`))
  lines.push(row('date', v.date ?? '(none)'))
  lines.push(row('age', `${v.age}s`))
  lines.push(row('freshness', `${f.lifetime}s from ${f.sourceText}`))
  lines.push(row('expires', f.ttl > 0 ? `in ${formatUptime(f.ttl)} (${f.expiresAt})` : `${formatUptime(-f.ttl)} ago (${f.expiresAt})`))
  let state = v.state === 'fresh' ? 'fresh' : `STALE: ${v.staleReason ?? 'stale'}`
  if (v.serveStale) state += ` (served stale while revalidating: ${v.serveStale}=${v.directives.staleWhileRevalidate ?? '?'}s)`
  lines.push(row('state', state))
  if (v.invalidatedAt) lines.push(row('purged', `marked expired at ${v.invalidatedAt}`))
  const d = v.directives
  const dir = [d.noCache && 'no-cache', d.mustRevalidate && 'must-revalidate', d.staleWhileRevalidate !== undefined && `stale-while-revalidate=${d.staleWhileRevalidate}`, d.staleIfError !== undefined && `stale-if-error=${d.staleIfError}`].filter(Boolean)
  if (dir.length) lines.push(row('directives', dir.join(', ')))
  const val = [v.validators.etag && `ETag ${v.validators.etag}`, v.validators.lastModified && `Last-Modified ${v.validators.lastModified}`].filter(Boolean)
  lines.push(row('validators', val.length ? val.join(', ') : '(none: cannot revalidate)'))
  if (v.graceUntil !== undefined) lines.push(row('grace', v.graceUntil === null ? 'never served stale on origin failure (must-revalidate / s-maxage / no-cache)' : `servable on origin failure until ${v.graceUntil}`))
  if (v.refresh) {
    const r = v.refresh
    if (r.last) lines.push(row('last refresh', `${r.last.at} (${r.last.reason}, ${r.last.result})`))
    if (r.next) lines.push(row('next refresh', `${r.next.at} (${r.next.reason})`))
    if (r.inGrace) lines.push(row('in grace', 'yes: the origin failed revalidating it; served stale until a revalidation succeeds'))
  }
  lines.push(row('crc32c', v.crc32c))
  lines.push(row('hits', `${v.hits}, last access ${v.lastAccess} (${ago(v.lastAccess, now)})`))
  lines.push(row('body file', v.bodyPath))
  lines.push('  headers')
  for (const [n, val2] of v.headers) lines.push(`    ${n}: ${val2}`)
  return lines
}

/** The human layout of `tavern inspect-key`. */
export function formatInspect(x: InspectReply, now: number): string {
  const out = [row('url', x.url), row('key', x.key)]
  if (!x.stored) {
    out.push(row('stored', 'no — not cached'))
    const n = x.notCached
    if (n) {
      const label = n.why === 'not-storable' ? 'not storable' : n.why === 'fetch-failed' ? 'fetch failed' : n.why === 'bypassed' ? 'bypassed' : n.why === 'purged' ? 'purged' : 'why'
      out.push(row('why', `${label}: ${n.reason}${n.status !== undefined ? ` (origin answered ${n.status})` : ''}${n.at ? `, ${n.at} (${ago(n.at, now)})` : ''}`))
      for (const k of n.suggestions) out.push(row('did you mean', k))
    }
    if (x.selection) out.push(row('selects', variantLabel(x.selection.variant)))
    return out.join('\n')
  }
  out.push(row('stored', `yes, ${x.variants.length} variant${x.variants.length === 1 ? '' : 's'}`))
  if (x.vary) out.push(row('vary', x.vary.names.join(', ')))
  if (x.selection) {
    const sel = `${variantLabel(x.selection.variant)}${x.selection.variant === null || x.selection.stored ? '' : ' (not stored: the next such request is a miss)'}`
    out.push(row('selects', sel))
  }
  for (const v of x.variants) out.push('', ...variantBlock(v, now))
  return out.join('\n')
}
