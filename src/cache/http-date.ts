/**
 * HTTP-date (RFC 9110 §5.6.7): IMF-fixdate plus the two obsolete forms recipients must accept.
 * Deliberately strict otherwise: a date we cannot read is "invalid", which for Expires means "already expired".
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)'
const DAY_L = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)'
const MON = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)'
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})'

const IMF = new RegExp(`^${DAY}, (\\d{2}) ${MON} (\\d{4}) ${TIME} GMT$`)
const RFC850 = new RegExp(`^${DAY_L}, (\\d{2})-${MON}-(\\d{2}) ${TIME} GMT$`)
const ASCTIME = new RegExp(`^${DAY} ${MON} ([ \\d]\\d) ${TIME} (\\d{4})$`)

function build(year: number, month: string, day: number, h: number, mi: number, s: number): number | undefined {
  const m = MONTHS.indexOf(month)
  // Leap second 60 is allowed by the grammar; Date.UTC rolls it into the next minute, which is fine.
  if (h > 23 || mi > 59 || s > 60 || day < 1) return undefined
  const t = Date.UTC(year, m, day, h, mi, s)
  // Reject impossible days such as 31 Feb (Date.UTC would silently roll over).
  if (new Date(Date.UTC(year, m, day)).getUTCDate() !== day) return undefined
  return t
}

/**
 * Parse an HTTP-date to ms since the epoch; undefined when invalid.
 * `now` only matters for RFC 850's two-digit years (RFC 9110 §5.6.7: more than 50 years in the future means the previous century).
 */
export function parseHttpDate(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  let m = IMF.exec(v)
  if (m) return build(Number(m[3]), m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]))
  m = RFC850.exec(v)
  if (m) {
    const yy = Number(m[3])
    const thisYear = new Date(now).getUTCFullYear()
    let year = Math.floor(thisYear / 100) * 100 + yy
    if (year > thisYear + 50) year -= 100
    return build(year, m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]))
  }
  m = ASCTIME.exec(v)
  if (m) return build(Number(m[6]), m[1]!, Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5]))
  return undefined
}

/** Format ms epoch as IMF-fixdate (what we generate: Date on responses, If-Modified-Since, ...). */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString()
}
