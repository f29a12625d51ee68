import {randomBytes} from 'node:crypto'
import {PassThrough, Readable, Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {setImmediate as tick} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {createBoundary, multipartLayout, multipartStream, type MultipartLayout} from '../../src/cache/multipart.js'
import {parseContentRange, type ByteRange} from '../../src/cache/range.js'

/** A source serving buf[start..end] in chunks, pulled on demand. */
function sliceSource(buf: Buffer, start: number, end: number, chunk = 1000): Readable {
  let pos = start
  return new Readable({
    read() {
      if (pos > end) {
        this.push(null)
        return
      }
      const n = Math.min(chunk, end + 1 - pos)
      this.push(buf.subarray(pos, pos + n))
      pos += n
    },
  })
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

interface ParsedPart {
  headers: Map<string, string>
  body: Buffer
}

/** A deliberately independent multipart parser: find delimiters, split headers from bodies. */
function parseMultipart(body: Buffer, boundary: string): ParsedPart[] {
  const dash = Buffer.from(`--${boundary}`, 'latin1')
  const delim = Buffer.from(`\r\n--${boundary}`, 'latin1')
  // The first delimiter may or may not be preceded by CRLF; nothing else may precede it.
  let pos = body.subarray(0, 2).toString('latin1') === '\r\n' ? 2 : 0
  expect(body.subarray(pos, pos + dash.length).equals(dash)).toBe(true)
  pos += dash.length

  const parts: ParsedPart[] = []
  for (;;) {
    const after = body.subarray(pos, pos + 2).toString('latin1')
    if (after === '--') {
      // Close delimiter, then only a CRLF epilogue.
      expect(body.subarray(pos + 2).toString('latin1')).toBe('\r\n')
      return parts
    }
    expect(after).toBe('\r\n')
    pos += 2
    const headerEnd = body.indexOf('\r\n\r\n', pos, 'latin1')
    expect(headerEnd).toBeGreaterThanOrEqual(pos)
    const headers = new Map<string, string>()
    for (const line of body.subarray(pos, headerEnd).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':')
      expect(colon).toBeGreaterThan(0)
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim())
    }
    const dataStart = headerEnd + 4
    const next = body.indexOf(delim, dataStart)
    expect(next).toBeGreaterThanOrEqual(dataStart)
    parts.push({headers, body: body.subarray(dataStart, next)})
    pos = next + delim.length
  }
}

function boundaryOf(layout: MultipartLayout): string {
  const m = /^multipart\/byteranges; boundary=(.+)$/.exec(layout.contentType)
  expect(m).not.toBeNull()
  return m![1]!
}

describe('createBoundary', () => {
  it('is long, random and a valid unquoted token', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 100; i++) {
      const b = createBoundary()
      expect(b.length).toBeGreaterThanOrEqual(24)
      expect(b.length).toBeLessThanOrEqual(70)
      expect(b).toMatch(/^[0-9A-Za-z_-]+$/)
      seen.add(b)
    }
    expect(seen.size).toBe(100)
  })
})

describe('multipartLayout', () => {
  it('matches the RFC 9110 §14.6 shape byte for byte', () => {
    const layout = multipartLayout(
      [
        {start: 0, end: 2},
        {start: 7, end: 9},
      ],
      10,
      'text/plain',
      'SEP',
    )
    expect(layout.contentType).toBe('multipart/byteranges; boundary=SEP')
    const expected =
      '--SEP\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-2/10\r\n\r\n' +
      'abc' +
      '\r\n--SEP\r\nContent-Type: text/plain\r\nContent-Range: bytes 7-9/10\r\n\r\n' +
      'hij' +
      '\r\n--SEP--\r\n'
    expect(layout.parts.map((p) => p.head.toString('latin1'))).toEqual([
      '--SEP\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-2/10\r\n\r\n',
      '\r\n--SEP\r\nContent-Type: text/plain\r\nContent-Range: bytes 7-9/10\r\n\r\n',
    ])
    expect(layout.tail.toString('latin1')).toBe('\r\n--SEP--\r\n')
    expect(layout.totalLength).toBe(Buffer.byteLength(expected))
  })

  it('omits the part Content-Type when the representation has none', () => {
    const layout = multipartLayout([{start: 0, end: 0}], 1, undefined, 'B')
    expect(layout.parts[0]!.head.toString('latin1')).toBe('--B\r\nContent-Range: bytes 0-0/1\r\n\r\n')
  })

  it('keeps non-ASCII (latin1) Content-Type bytes and counts them exactly', () => {
    const ct = 'text/plain; name=caf\u00e9'
    const layout = multipartLayout([{start: 0, end: 0}], 1, ct, 'B')
    expect(layout.parts[0]!.head.includes(Buffer.from([0xe9]))).toBe(true)
    expect(layout.totalLength).toBe(layout.parts[0]!.head.length + 1 + layout.tail.length)
  })

  it.each<[string, ByteRange[], number, string | undefined, string]>([
    ['no ranges', [], 10, undefined, 'B'],
    ['end beyond size', [{start: 0, end: 10}], 10, undefined, 'B'],
    ['start after end', [{start: 5, end: 4}], 10, undefined, 'B'],
    ['negative start', [{start: -1, end: 4}], 10, undefined, 'B'],
    ['CRLF in Content-Type', [{start: 0, end: 1}], 10, 'text/plain\r\nX-Evil: 1', 'B'],
    ['empty boundary', [{start: 0, end: 1}], 10, undefined, ''],
    ['boundary with CRLF', [{start: 0, end: 1}], 10, undefined, 'a\r\nb'],
    ['boundary too long', [{start: 0, end: 1}], 10, undefined, 'x'.repeat(71)],
  ])('rejects %s', (_name, ranges, size, ct, boundary) => {
    expect(() => multipartLayout(ranges, size, ct, boundary)).toThrow(RangeError)
  })
})

describe('multipartStream', () => {
  const data = randomBytes(10_000)
  const threeRanges: ByteRange[] = [
    {start: 0, end: 499},
    {start: 2000, end: 4999},
    {start: 9000, end: 9999},
  ]

  it('streams 3 ranges of a 10,000-byte body; exact length; parses back', async () => {
    const layout = multipartLayout(threeRanges, data.length, 'application/octet-stream', createBoundary())
    const body = await collect(multipartStream(layout, (s, e) => sliceSource(data, s, e, 777)))
    expect(body.length).toBe(layout.totalLength)

    const parts = parseMultipart(body, boundaryOf(layout))
    expect(parts).toHaveLength(3)
    parts.forEach((part, i) => {
      const r = threeRanges[i]!
      expect(part.headers.get('content-type')).toBe('application/octet-stream')
      expect(part.headers.get('content-range')).toBe(`bytes ${r.start}-${r.end}/10000`)
      expect(parseContentRange(part.headers.get('content-range')!)).toEqual({start: r.start, end: r.end, size: 10_000})
      expect(part.body.equals(data.subarray(r.start, r.end + 1))).toBe(true)
    })
  })

  it('works without a part Content-Type and with single-byte parts', async () => {
    const ranges = [
      {start: 0, end: 0},
      {start: 5, end: 5},
      {start: 9999, end: 9999},
    ]
    const layout = multipartLayout(ranges, data.length, undefined, createBoundary())
    const body = await collect(multipartStream(layout, (s, e) => sliceSource(data, s, e)))
    expect(body.length).toBe(layout.totalLength)
    const parts = parseMultipart(body, boundaryOf(layout))
    expect(parts.map((p) => [...p.headers.keys()])).toEqual([['content-range'], ['content-range'], ['content-range']])
    expect(parts.map((p) => p.body[0])).toEqual([data[0], data[5], data[9999]])
  })

  it('accepts plain Uint8Array chunks', async () => {
    const layout = multipartLayout([{start: 0, end: 9}], 10, undefined, 'B')
    const body = await collect(
      multipartStream(layout, () => Readable.from([new Uint8Array([1, 2, 3]), new Uint8Array(7)], {objectMode: false})),
    )
    expect(body.length).toBe(layout.totalLength)
  })

  it('opens sources lazily, in order, one at a time', async () => {
    const layout = multipartLayout(threeRanges, data.length, undefined, createBoundary())
    const opened: string[] = []
    let active = 0
    const stream = multipartStream(layout, (s, e) => {
      expect(active).toBe(0)
      active++
      opened.push(`${s}-${e}`)
      const src = sliceSource(data, s, e)
      src.on('end', () => active--)
      return src
    })
    // Nothing is opened before the consumer asks for data.
    await tick()
    expect(opened).toEqual([])
    await collect(stream)
    expect(opened).toEqual(['0-499', '2000-4999', '9000-9999'])
  })

  it('errors when a source ends short', async () => {
    const layout = multipartLayout(threeRanges, data.length, undefined, createBoundary())
    const stream = multipartStream(layout, (s, e) => sliceSource(data, s, s === 2000 ? e - 1 : e))
    await expect(collect(stream)).rejects.toThrow(/1 bytes short/)
  })

  it('errors when a source yields more bytes than the range', async () => {
    const layout = multipartLayout(threeRanges, data.length, undefined, createBoundary())
    const stream = multipartStream(layout, (s, e) => sliceSource(data, s, e + 1))
    await expect(collect(stream)).rejects.toThrow(/more bytes/)
  })

  it('errors when an empty-range source is empty', async () => {
    const layout = multipartLayout([{start: 0, end: 9}], 10, undefined, 'B')
    await expect(collect(multipartStream(layout, () => Readable.from([])))).rejects.toThrow(/10 bytes short/)
  })

  it('propagates a source error and an opener exception', async () => {
    const layout = multipartLayout(threeRanges, data.length, undefined, createBoundary())
    const failing = multipartStream(layout, () => {
      const p = new PassThrough()
      p.write(Buffer.alloc(10))
      setTimeout(() => p.destroy(new Error('disk on fire')), 1)
      return p
    })
    await expect(collect(failing)).rejects.toThrow('disk on fire')

    const throwing = multipartStream(layout, () => {
      throw new Error('no such blob')
    })
    await expect(collect(throwing)).rejects.toThrow('no such blob')
  })

  it('errors when a source is closed without ending', async () => {
    const layout = multipartLayout([{start: 0, end: 99}], 100, undefined, 'B')
    const stream = multipartStream(layout, () => {
      const p = new PassThrough()
      p.write(Buffer.alloc(10))
      setTimeout(() => p.destroy(), 1)
      return p
    })
    await expect(collect(stream)).rejects.toThrow(/closed before ending/)
  })

  it('errors on string chunks (byte counting would be wrong)', async () => {
    const layout = multipartLayout([{start: 0, end: 2}], 3, undefined, 'B')
    const stream = multipartStream(layout, () => Readable.from(['abc'], {objectMode: true}))
    await expect(collect(stream)).rejects.toThrow(/non-binary/)
  })

  it('honours backpressure: a stalled consumer does not drain the source', async () => {
    const size = 8 * 1024 * 1024
    let produced = 0
    const layout = multipartLayout(
      [
        {start: 0, end: size / 2 - 1},
        {start: size / 2, end: size - 1},
      ],
      size,
      undefined,
      createBoundary(),
    )
    const stream = multipartStream(layout, (s, e) => {
      let pos = s
      return new Readable({
        read() {
          if (pos > e) return void this.push(null)
          const n = Math.min(64 * 1024, e + 1 - pos)
          pos += n
          produced += n
          this.push(Buffer.alloc(n))
        },
      })
    })
    // Start the flow, then stop reading.
    stream.once('readable', () => {})
    for (let i = 0; i < 50; i++) await tick()
    expect(produced).toBeGreaterThan(0)
    expect(produced).toBeLessThan(512 * 1024)

    // A slow writer still gets everything, exactly.
    let written = 0
    await pipeline(
      stream,
      new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _enc, cb) {
          written += chunk.length
          setImmediate(cb)
        },
      }),
    )
    expect(written).toBe(layout.totalLength)
    expect(produced).toBe(size)
  })

  it('destroying the consumer destroys the current source and opens no more', async () => {
    const layout = multipartLayout(threeRanges, data.length, undefined, createBoundary())
    const sources: Readable[] = []
    const stream = multipartStream(layout, () => {
      // A source that hands out one chunk and then stalls forever.
      let sent = false
      const src = new Readable({
        read() {
          if (!sent) {
            sent = true
            this.push(Buffer.alloc(10))
          }
        },
      })
      sources.push(src)
      return src
    })
    const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve))
    expect(first.toString('latin1')).toMatch(/^--/)
    for (let i = 0; i < 5; i++) await tick()
    expect(sources).toHaveLength(1)
    expect(sources[0]!.destroyed).toBe(false)

    stream.destroy()
    await tick()
    expect(sources[0]!.destroyed).toBe(true)
    expect(sources[0]!.listenerCount('data')).toBe(0)
    for (let i = 0; i < 5; i++) await tick()
    expect(sources).toHaveLength(1)
  })

  it('a late error from an abandoned source is swallowed, not uncaught', async () => {
    const layout = multipartLayout([{start: 0, end: 99}], 100, undefined, 'B')
    const src = new PassThrough()
    const stream = multipartStream(layout, () => src)
    stream.resume()
    await tick()
    stream.destroy()
    await tick()
    // Emitting 'error' with no listener would throw synchronously here.
    expect(() => src.emit('error', new Error('late'))).not.toThrow()
  })
})
