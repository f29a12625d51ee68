const BARS = '▁▂▃▄▅▆▇█'

export interface ScaleOptions {
  /** Fixed lower bound (default: 0 when all values are >= 0, else the minimum). */
  min?: number
  /** Fixed upper bound (default: the maximum). */
  max?: number
}

function bounds(values: ReadonlyArray<number | null>, opts: ScaleOptions): {lo: number; span: number} | null {
  let lo = Infinity
  let hi = -Infinity
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue
    if (v < lo) lo = v
    if (v > hi) hi = v
  }
  if (lo === Infinity) return null
  // Rates are anchored at zero so a steady 1000 req/s doesn't look like a sawtooth.
  const min = opts.min ?? (lo >= 0 ? 0 : lo)
  const max = opts.max ?? hi
  return {lo: min, span: max - min}
}

/**
 * One-line unicode sparkline of the last `width` values. `null` (no data for that point) renders as a space.
 * Shorter input is left-padded with spaces, so the newest point is always at the right edge.
 */
export function sparkline(values: ReadonlyArray<number | null>, width = values.length, opts: ScaleOptions = {}): string {
  if (width <= 0) return ''
  const vs = values.slice(-width)
  const b = bounds(vs, opts)
  let out = ' '.repeat(width - vs.length)
  for (const v of vs) {
    if (v === null || !Number.isFinite(v) || b === null) {
      out += ' '
      continue
    }
    const f = b.span > 0 ? (v - b.lo) / b.span : v > b.lo ? 1 : 0
    out += BARS[Math.max(0, Math.min(BARS.length - 1, Math.round(f * (BARS.length - 1))))]
  }
  return out
}

// Braille cells are 2 dots wide and 4 high; bit for (column, row-from-top).
const DOTS: readonly (readonly number[])[] = [
  [0x01, 0x02, 0x04, 0x40],
  [0x08, 0x10, 0x20, 0x80],
]

/**
 * A small braille line chart: `height` lines of `width` characters, two points per character,
 * the last 2·width values, newest on the right. Each point is joined to the previous one vertically
 * so steep changes read as a line rather than scattered dots.
 */
export function brailleChart(values: ReadonlyArray<number | null>, width: number, height: number, opts: ScaleOptions = {}): string[] {
  if (width <= 0 || height <= 0) return []
  const cols = width * 2
  const rows = height * 4
  const vs = values.slice(-cols)
  const offset = cols - vs.length
  const cells = new Uint8Array(width * height)
  const b = bounds(vs, opts)
  let prev: number | null = null
  for (let i = 0; i < vs.length; i++) {
    const v = vs[i]
    if (v === null || v === undefined || !Number.isFinite(v) || b === null) {
      prev = null
      continue
    }
    const f = b.span > 0 ? (v - b.lo) / b.span : v > b.lo ? 1 : 0
    // y = 0 is the bottom dot row.
    const y = Math.max(0, Math.min(rows - 1, Math.round(f * (rows - 1))))
    // Fill the gap from the previous point (exclusive) so a jump is drawn as a vertical stroke.
    let lo = y
    let hi = y
    if (prev !== null && prev < y) lo = prev + 1
    else if (prev !== null && prev > y) hi = prev - 1
    const x = offset + i
    for (let yy = lo; yy <= hi; yy++) {
      const rowFromTop = rows - 1 - yy
      const cell = Math.floor(rowFromTop / 4) * width + (x >> 1)
      cells[cell] = cells[cell]! | DOTS[x & 1]![rowFromTop & 3]!
    }
    prev = y
  }
  const lines: string[] = []
  for (let r = 0; r < height; r++) {
    let line = ''
    for (let c = 0; c < width; c++) line += String.fromCharCode(0x2800 + cells[r * width + c]!)
    lines.push(line)
  }
  return lines
}
