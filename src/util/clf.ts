/** Pieces of the Apache/nginx "combined" log format, shared by the access log and `tavern log --format combined`. */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** nginx's $time_local in UTC for an epoch second: `02/Dec/2026:01:50:07 +0000`. */
export function clfTime(second: number): string {
  const d = new Date(second * 1000)
  const p2 = (n: number) => (n < 10 ? `0${n}` : String(n))
  return `${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]!}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`
}

const UNSAFE = /[^\x20-\x7e]|["\\]/
const UNSAFE_ALL = /[^\x20-\x7e]|["\\]/g

/**
 * A field for inside double quotes: `"` and `\` escaped, controls and non-ASCII as \xHH (what nginx does), `-` when
 * absent, so a hostile User-Agent cannot forge a line or a field.
 */
export function clfQuoted(s: string | undefined): string {
  if (s === undefined || s === '') return '-'
  return UNSAFE.test(s) ? s.replace(UNSAFE_ALL, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)) : s
}

/** One combined line (without the newline). */
export function combinedLine(e: {client?: string; second: number; method?: string; path?: string; httpVersion?: string; status: number; bytes: number; referer?: string; userAgent?: string}, time = clfTime(e.second)): string {
  return `${e.client ?? '-'} - - [${time}] "${clfQuoted(e.method)} ${clfQuoted(e.path)} HTTP/${e.httpVersion ?? '1.1'}" ${e.status} ${e.bytes} "${clfQuoted(e.referer)}" "${clfQuoted(e.userAgent)}"`
}
