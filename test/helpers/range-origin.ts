/** An origin route that implements single byte ranges (RFC 9110 §14) over a fixed body, for partial-object tests. */
import type {RecordedRequest, ResponseSpec} from './origin.js'

/** A deterministic body of `size` bytes. */
export function patternBody(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >> 9) * 7 + seed) & 0xff
  return b
}

/** Answers `Range: bytes=a-b` / `bytes=a-` / `bytes=-n` with 206 (else the full 200), with `headers` on both. */
export function rangeRoute(body: Buffer, headers: Record<string, string>) {
  return (req: RecordedRequest): ResponseSpec => {
    const range = req.header('range')
    const m = range === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(range)
    if (!m || (m[1] === '' && m[2] === '')) return {headers: {'Accept-Ranges': 'bytes', ...headers}, body}
    const start = m[1] === '' ? Math.max(0, body.length - Number(m[2])) : Number(m[1])
    const end = m[1] === '' || m[2] === '' ? body.length - 1 : Math.min(Number(m[2]), body.length - 1)
    if (start >= body.length) return {status: 416, headers: {'Content-Range': `bytes */${body.length}`}, body: ''}
    return {status: 206, headers: {'Accept-Ranges': 'bytes', ...headers, 'Content-Range': `bytes ${start}-${end}/${body.length}`}, body: body.subarray(start, end + 1)}
  }
}
