/** Human formatting for the dashboard and `tavern top --once`. All functions are pure and ANSI-free. */

const DASH = '—'
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** 1536 → "1.5 KiB"; three significant digits above 1 KiB. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH
  if (n < 0) return `-${formatBytes(-n)}`
  if (n < 1024) return `${Math.round(n)} B`
  let v = n
  let u = 0
  // Switch units at 999.5 so three significant digits never print as "1024 KiB".
  while (v >= 999.5 && u < BYTE_UNITS.length - 1) {
    v /= 1024
    u++
  }
  return `${sig3(v)} ${BYTE_UNITS[u]}`
}

/** Bytes per second. */
export function formatByteRate(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? DASH : `${formatBytes(n)}/s`
}

/** Counts with k/M/G suffixes: 950 → "950", 1234 → "1.23k", 2_500_000 → "2.50M". */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH
  const a = Math.abs(n)
  if (a < 1000) return Number.isInteger(n) ? String(n) : a < 10 ? n.toFixed(1) : String(Math.round(n))
  const units: Array<[number, string]> = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ]
  for (const [base, suffix] of units) {
    // 0.9995 so that 999,600 prints as "1.00M", not "1000k".
    if (a >= base * 0.9995) return `${sig3(n / base)}${suffix}`
  }
  return String(n)
}

/** Requests per second: "0", "0.8", "2.0", "120", "1.23k" (one decimal below 10, so columns line up). */
export function formatRate(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH
  if (n === 0) return '0'
  if (Math.abs(n) < 9.95) return n.toFixed(1)
  return formatCount(Math.round(n))
}

/** A 0..1 ratio as a percentage with one decimal; null (no data) → "—". */
export function formatPercent(ratio: number | null | undefined, digits = 1): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return DASH
  return `${(ratio * 100).toFixed(digits)}%`
}

/** Milliseconds: "850µs", "12.3ms", "120ms", "1.20s", "2m03s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH
  // Thresholds sit just below each boundary so rounding never prints "100.0ms" or "1000ms".
  if (ms < 0.9995) return `${Math.round(ms * 1000)}µs`
  if (ms < 9.995) return `${ms.toFixed(2)}ms`
  if (ms < 99.95) return `${ms.toFixed(1)}ms`
  if (ms < 999.5) return `${Math.round(ms)}ms`
  if (ms < 59_950) return `${(ms / 1000).toFixed(ms < 9995 ? 2 : 1)}s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}

/** Uptime in seconds: "42s", "5m03s", "3h12m", "4d07h". */
export function formatUptime(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec) || sec < 0) return DASH
  const s = Math.floor(sec)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${pad2(s % 60)}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad2(Math.floor((s % 3600) / 60))}m`
  return `${Math.floor(s / 86_400)}d${pad2(Math.floor((s % 86_400) / 3600))}h`
}

/** Shortens from the middle so both the host and the end of a URL stay visible. */
export function truncateMiddle(s: string, width: number): string {
  if (width <= 0) return ''
  if (s.length <= width) return s
  if (width <= 3) return s.slice(0, width)
  const head = Math.ceil((width - 1) / 2)
  const tail = width - 1 - head
  return `${s.slice(0, head)}…${tail > 0 ? s.slice(-tail) : ''}`
}

export function padLeft(s: string, width: number): string {
  return s.length >= width ? s : ' '.repeat(width - s.length) + s
}

export function padRight(s: string, width: number): string {
  return s.length >= width ? s : s + ' '.repeat(width - s.length)
}

function pad2(n: number): string {
  return String(n).padStart(2, '0')
}

/** Three significant digits without exponent notation: 1.23, 12.3, 123. */
function sig3(v: number): string {
  const a = Math.abs(v)
  if (a >= 100) return String(Math.round(v))
  if (a >= 10) return v.toFixed(1)
  return v.toFixed(2)
}
