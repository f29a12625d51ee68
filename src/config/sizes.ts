/** Parse byte sizes such as `512MiB`, `10GB`, `4096` into bytes (1 KB = 1000, 1 KiB = 1024). */
const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1000, kib: 1024,
  m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4,
}

export function parseBytes(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v)
  if (!m) return undefined
  const unit = UNITS[m[2]!.toLowerCase()]
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit)
}

/** Parse durations such as `30s`, `500ms`, `5m`, `1h`, `2d`, or a plain number of milliseconds. */
export function parseDurationMs(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(v)
  if (!m) return undefined
  const mult = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}[(m[2] ?? 'ms') as 'ms']
  return Number(m[1]) * mult
}

/** Parse `HOST:PORT`, `[v6]:PORT` or `:PORT` (host defaults to 127.0.0.1). */
export function parseHostPort(v: string): {host: string; port: number} | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(v.trim())
  if (!m) return undefined
  const port = Number(m[3])
  if (port > 65_535) return undefined
  return {host: m[1] ?? (m[2] || '127.0.0.1'), port}
}
