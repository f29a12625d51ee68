/**
 * Hostile origin ↔ client exchanges, table-driven. Every case: the raw origin follows a script, a raw client sends
 * exact bytes, then
 *   (a) the daemon still answers a control request (another path) quickly,
 *   (b) the client got the expected status / bytes, or a cut connection where that is the only honest answer,
 *   (c) nothing wrong was stored: the origin then answers a new version (AFTER) and a plain GET, then the case's own
 *       request, must show AFTER (or a version the case allows), never the bad response.
 * `item` is the number in issue "Hardening I"; `rfc` the section the expectation rests on.
 */
import {gzipSync} from 'node:zlib'

import {describe, expect, it} from 'vitest'

import {describeRaw, type RawResponse} from '../helpers/raw-client.js'
import {chunk, head, LAST_CHUNK, rangeOrigin, resp, type Script, type Step} from '../helpers/raw-origin.js'
import {casePath, expectBytesOf, type Hostile, payload, useHostile} from './harness.js'

const CC = ['Cache-Control', 'max-age=3600']
const TEN = Buffer.from('0123456789')
const SLICE = 64 * 1024

interface Exchange {
  /** The origin's script for this exchange (replaces the previous one). */
  origin: Script
  method?: string
  headers?: string[]
  body?: string
  timeoutMs?: number
  expect: Expect
}

interface Expect {
  /** Exact status, or any of these. */
  status?: number | number[]
  body?: string | Buffer
  /**
   * The origin broke the message: a complete 5xx (when it broke before the daemon answered), or a cut message
   * (status line sent, body incomplete: RFC 9112 §6.3 / RFC 9110 §6.1 — a proxy must not make it look complete).
   */
  brokenBody?: true
  /** Full representation the 200/206 must be bytes of (206 = the right slice), when one arrives. */
  bytesOf?: Buffer
  /** A cut message is acceptable too (the framing was ambiguous). */
  allowCut?: true
  check?: (r: RawResponse) => void
}

interface Case {
  name: string
  item?: number
  rfc: string
  /** Exchanges run first (for stored objects, revalidations, slices). Their expectations are checked too. */
  prime?: Exchange[]
  exchange: Exchange
  /**
   * After the case, the origin serves AFTER; a plain GET and then the case's request must see AFTER (or a body in
   * `storedOk`: what the daemon may legitimately have kept). Off when storing the case's response is right.
   */
  notStored?: {storedOk?: Buffer[]}
  after?: (h: Hostile, path: string) => Promise<void>
}

/** A status line, headers and part of a body, then RST. */
function resetAfter(...writes: Array<string | Buffer>): Step[] {
  return [...writes.map((w) => ({write: w})), {reset: true}]
}

const cases: Case[] = [
  // ---- item 1: cold Range requests answered with anything but a good 206 -------------------------------------------
  {name: 'cold range, origin 404', item: 1, rfc: 'RFC 9110 §15.5.5, §14.2 (a server may ignore Range; the cache relays the answer)', exchange: {origin: [{write: resp(404, [], 'nope')}], headers: ['Range', 'bytes=0-4'], expect: {status: 404, body: 'nope'}}, notStored: {}},
  {name: 'cold range, origin 500', item: 1, rfc: 'RFC 9110 §15.6.1', exchange: {origin: [{write: resp(500, [], 'broken')}], headers: ['Range', 'bytes=0-4'], expect: {status: 500, body: 'broken'}}, notStored: {}},
  {name: 'cold range, origin 302', item: 1, rfc: 'RFC 9110 §15.4.3', exchange: {origin: [{write: resp(302, ['Location', '/elsewhere'], 'moved')}], headers: ['Range', 'bytes=0-4'], expect: {status: 302, check: (r) => expect(r.header('location')).toBe('/elsewhere')}}, notStored: {}},
  {name: 'cold range, origin 416 with Content-Range', item: 1, rfc: 'RFC 9110 §15.5.17', exchange: {origin: [{write: resp(416, ['Content-Range', 'bytes */10'], '')}], headers: ['Range', 'bytes=20-30'], expect: {status: 416, check: (r) => expect(r.header('content-range')).toBe('bytes */10')}}, notStored: {}},
  {name: 'cold range, origin 416 without Content-Range', item: 1, rfc: 'RFC 9110 §15.5.17', exchange: {origin: [{write: resp(416, [], '')}], headers: ['Range', 'bytes=0-4'], expect: {status: 416}}, notStored: {}},
  {name: 'cold range, origin 404 to a suffix range', item: 1, rfc: 'RFC 9110 §15.5.5', exchange: {origin: [{write: resp(404, [], 'nope')}], headers: ['Range', 'bytes=-5'], expect: {status: 404, body: 'nope'}}, notStored: {}},
  {
    name: 'suffix range answered 206 with a wrong Content-Range (bytes 4-9/10)',
    item: 1,
    rfc: 'RFC 9110 §14.4 (the part must be what was asked; the cache must not combine it blindly, §RFC 9111 3.4)',
    exchange: {origin: [{write: resp(206, [...CC, 'ETag', '"w1"', 'Content-Range', 'bytes 4-9/10'], TEN.subarray(4))}], headers: ['Range', 'bytes=-5'], expect: {status: [206, 502], bytesOf: TEN}},
    notStored: {},
  },
  {
    name: 'range answered 206 with Content-Range lacking the total',
    item: 1,
    rfc: 'RFC 9110 §14.4 (complete-length or "*" is required)',
    exchange: {origin: [{write: resp(206, [...CC, 'ETag', '"w2"', 'Content-Range', 'bytes 0-4'], TEN.subarray(0, 5))}], headers: ['Range', 'bytes=0-4'], expect: {status: [206, 502]}},
    notStored: {},
  },
  {
    name: 'range answered 206 with Content-Range end before start',
    item: 1,
    rfc: 'RFC 9110 §14.4 (invalid range-resp)',
    exchange: {origin: [{write: resp(206, [...CC, 'ETag', '"w3"', 'Content-Range', 'bytes 5-2/10'], TEN.subarray(0, 4))}], headers: ['Range', 'bytes=0-4'], expect: {status: [206, 502]}},
    notStored: {},
  },
  {
    name: 'range answered 206 with Content-Range past the total',
    item: 1,
    rfc: 'RFC 9110 §14.4 (last-pos must be below complete-length)',
    exchange: {origin: [{write: resp(206, [...CC, 'ETag', '"w4"', 'Content-Range', 'bytes 0-4/3'], TEN.subarray(0, 5))}], headers: ['Range', 'bytes=0-4'], expect: {status: [206, 502]}},
    notStored: {},
  },
  {
    name: 'range answered 206 with an unknown range unit',
    item: 1,
    rfc: 'RFC 9110 §14.4',
    exchange: {origin: [{write: resp(206, [...CC, 'ETag', '"w5"', 'Content-Range', 'items 0-4/10'], TEN.subarray(0, 5))}], headers: ['Range', 'bytes=0-4'], expect: {status: [206, 502]}},
    notStored: {},
  },
  {
    name: 'single range answered with a multipart 206',
    item: 1,
    rfc: 'RFC 9110 §14.6 (multipart/byteranges; the cache cannot store it as one slice)',
    exchange: {
      origin: [
        {
          write: resp(
            206,
            [...CC, 'ETag', '"w6"', 'Content-Type', 'multipart/byteranges; boundary=XyZ'],
            '--XyZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-4/10\r\n\r\n01234\r\n--XyZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 8-9/10\r\n\r\n89\r\n--XyZ--\r\n',
          ),
        },
      ],
      headers: ['Range', 'bytes=0-4'],
      expect: {status: [206, 502]},
    },
    notStored: {},
  },
  {
    name: 'range answered with a no-store 206',
    item: 1,
    rfc: 'RFC 9111 §5.2.2.5 (no-store: relay, never store)',
    exchange: {origin: [{write: resp(206, ['Cache-Control', 'no-store', 'ETag', '"w7"', 'Content-Range', 'bytes 0-4/10'], TEN.subarray(0, 5))}], headers: ['Range', 'bytes=0-4'], expect: {status: 206, body: '01234'}},
    notStored: {},
  },
  {
    name: 'range answered 206 whose Content-Length disagrees with Content-Range',
    item: 1,
    rfc: 'RFC 9110 §14.4, RFC 9112 §6.3 (framing wins; the part is not what it claims)',
    exchange: {origin: [{write: resp(206, [...CC, 'ETag', '"w8"', 'Content-Range', 'bytes 0-4/10', 'Content-Length', '3'], '012')}], headers: ['Range', 'bytes=0-4'], expect: {status: [206, 502], check: (r) => r.status === 206 && expect(r.body.length, r.body.toString("latin1")).toBeLessThanOrEqual(5)}},
    notStored: {},
  },
  {
    name: 'range: origin resets before the status line',
    item: 1,
    rfc: 'RFC 9110 §15.6.3 (502)',
    exchange: {origin: [{reset: true}], headers: ['Range', 'bytes=0-4'], expect: {status: 502}},
    notStored: {},
  },
  {
    name: 'range: slice body cut mid-way (RST)',
    item: 1,
    rfc: 'RFC 9112 §8 (an incomplete message is not a complete response)',
    exchange: {origin: resetAfter(head(206, [...CC, 'ETag', '"w9"', 'Content-Range', `bytes 0-${SLICE - 1}/${4 * SLICE}`, 'Content-Length', String(SLICE)]), payload(1000, 9)), headers: ['Range', 'bytes=0-99'], expect: {brokenBody: true}},
    notStored: {},
  },

  // ---- item 7, 8, 12: framing the daemon got wrong ------------------------------------------------------------------
  {
    name: 'close-delimited body cut by RST',
    item: 7,
    rfc: 'RFC 9112 §6.3 ¶8, §8 (a close-delimited body ended by an error is incomplete; RFC 9111 §3.3 must not be stored as complete)',
    exchange: {origin: resetAfter(head(200, CC), payload(20_000, 7)), expect: {brokenBody: true}},
    notStored: {},
  },
  {
    name: 'close-delimited body ended by FIN is complete',
    item: 7,
    rfc: 'RFC 9112 §6.3 ¶8',
    exchange: {origin: [{write: head(200, ['Cache-Control', 'no-store'])}, {write: 'all of it'}, {end: true}], expect: {status: 200, body: 'all of it'}},
  },
  {
    name: 'Transfer-Encoding: gzip, chunked',
    item: 8,
    rfc: 'RFC 9112 §6.1, §7 (transfer codings are hop-by-hop: decode them or fail; never replay encoded bytes as identity)',
    exchange: {
      origin: [{write: Buffer.concat([head(200, [...CC, 'Transfer-Encoding', 'gzip, chunked']), chunk(gzipSync('plain text body')), Buffer.from(LAST_CHUNK)])}],
      expect: {status: [200, 502], check: (r) => (r.status === 200 ? expect(r.body.toString()).toBe('plain text body') : undefined)},
    },
    notStored: {storedOk: [Buffer.from('plain text body')]},
  },
  {
    name: 'a stored 200 with a Content-Range field replays it',
    item: 12,
    rfc: 'RFC 9111 §3.1, §4 (a stored response is replayed with its header fields)',
    prime: [{origin: [{write: resp(200, [...CC, 'Content-Range', 'bytes 0-9/10'], TEN)}], expect: {status: 200, body: TEN, check: (r) => expect(r.header('content-range')).toBe('bytes 0-9/10')}}],
    exchange: {origin: [{write: resp(500, [], 'should be a hit')}], expect: {status: 200, body: TEN, check: (r) => expect(r.header('content-range'), describeRaw(r)).toBe('bytes 0-9/10')}},
  },

  // ---- item 9: a 304 that names another representation --------------------------------------------------------------
  {
    name: '304 with a different strong ETag does not update the stored response',
    item: 9,
    rfc: 'RFC 9111 §4.3.4 (a 304 with a strong validator selects only stored responses with the same one)',
    prime: [{origin: [{write: resp(200, ['Cache-Control', 'max-age=0', 'ETag', '"a"', 'X-Version', '1'], 'version A')}], expect: {status: 200, body: 'version A'}}],
    exchange: {
      origin: (req) => (req.header('if-none-match') ? [{write: head(304, ['Cache-Control', 'max-age=3600', 'ETag', '"b"', 'X-Version', '2'])}] : [{write: resp(200, ['Cache-Control', 'max-age=3600', 'ETag', '"b"', 'X-Version', '2'], 'version B, longer')}]),
      expect: {
        status: [200, 502, 504],
        check: (r) => {
          if (r.status !== 200) return
          // Whatever is served must be one coherent version: never A's body under B's validator or fields.
          const tagged = `${r.header('etag')} ${r.header('x-version')} ${r.body.toString()}`
          expect(['"a" 1 version A', '"b" 2 version B, longer']).toContain(tagged)
        },
      },
    },
    after: async (h, p) => {
      const info = await h.inspect(p)
      for (const v of info.variants) {
        const fields = Object.fromEntries(v.headers.map(([k, x]) => [k.toLowerCase(), x]))
        if (v.size === 'version A'.length) expect(fields.etag, 'stored version A now carries ETag "b"').toBe('"a"')
        if (v.size === 'version A'.length) expect(fields['x-version'], 'stored version A got the 304 fields of another representation').toBe('1')
      }
    },
  },

  // ---- resets at every phase ---------------------------------------------------------------------------------------
  {name: 'RST before the status line', rfc: 'RFC 9110 §15.6.3 (502)', exchange: {origin: [{reset: true}], expect: {status: 502}}, notStored: {}},
  {name: 'FIN before the status line', rfc: 'RFC 9110 §15.6.3 (502)', exchange: {origin: [{end: true}], expect: {status: 502}}, notStored: {}},
  {name: 'RST mid status line', rfc: 'RFC 9110 §15.6.3', exchange: {origin: resetAfter('HTTP/1.1 20'), expect: {status: 502}}, notStored: {}},
  {name: 'RST mid headers', rfc: 'RFC 9110 §15.6.3', exchange: {origin: resetAfter('HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nContent-Len'), expect: {status: 502}}, notStored: {}},
  {name: 'FIN mid headers', rfc: 'RFC 9112 §8, RFC 9110 §15.6.3', exchange: {origin: [{write: 'HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\n'}, {end: true}], expect: {status: 502}}, notStored: {}},
  {name: 'RST right after the header section (Content-Length)', rfc: 'RFC 9112 §8', exchange: {origin: resetAfter(head(200, [...CC, 'Content-Length', '1000'])), expect: {brokenBody: true}}, notStored: {}},
  {name: 'RST mid body (Content-Length)', rfc: 'RFC 9112 §8', exchange: {origin: resetAfter(head(200, [...CC, 'Content-Length', '100000']), payload(30_000, 1)), expect: {brokenBody: true}}, notStored: {}},
  {name: 'FIN mid body (Content-Length)', rfc: 'RFC 9112 §8 (fewer octets than Content-Length: incomplete)', exchange: {origin: [{write: head(200, [...CC, 'Content-Length', '100000'])}, {write: payload(30_000, 2)}, {end: true}], expect: {brokenBody: true}}, notStored: {}},
  {name: 'RST mid chunk', rfc: 'RFC 9112 §7.1, §8', exchange: {origin: resetAfter(head(200, [...CC, 'Transfer-Encoding', 'chunked']), chunk(payload(5000, 3)), '2000\r\n', payload(100, 4)), expect: {brokenBody: true}}, notStored: {}},
  {name: 'RST between chunks', rfc: 'RFC 9112 §7.1, §8', exchange: {origin: resetAfter(head(200, [...CC, 'Transfer-Encoding', 'chunked']), chunk(payload(5000, 5))), expect: {brokenBody: true}}, notStored: {}},
  {name: 'FIN after the last data chunk, before the last-chunk', rfc: 'RFC 9112 §8 (no zero-size chunk: incomplete)', exchange: {origin: [{write: head(200, [...CC, 'Transfer-Encoding', 'chunked'])}, {write: chunk(payload(5000, 6))}, {end: true}], expect: {brokenBody: true}}, notStored: {}},
  {
    name: 'RST after the last-chunk, before the final CRLF',
    rfc: 'RFC 9112 §7.1 (the trailer section never ended); either outcome is defensible, but never other bytes',
    exchange: {origin: resetAfter(head(200, [...CC, 'Transfer-Encoding', 'chunked']), chunk('complete body'), '0\r\n'), expect: {allowCut: true, check: (r) => (r.status === 200 ? expect('complete body'.startsWith(r.body.toString())).toBe(true) : expect(r.status === 0 || r.status >= 500).toBe(true))}},
    notStored: {storedOk: [Buffer.from('complete body')]},
  },

  // ---- lying lengths -----------------------------------------------------------------------------------------------
  {name: 'Content-Length larger than the body, then the origin stalls', rfc: 'RFC 9112 §8 (bodyTimeout: incomplete)', exchange: {origin: [{write: head(200, [...CC, 'Content-Length', '50'])}, {write: 'only twenty bytes...'}, {hang: true}], timeoutMs: 8000, expect: {brokenBody: true}}, notStored: {}},
  {
    name: 'Content-Length smaller than the body (extra bytes on the connection)',
    rfc: 'RFC 9112 §6.3 ¶6 (the body is Content-Length octets; the rest is not part of this response)',
    exchange: {origin: [{write: Buffer.concat([head(200, [...CC, 'Content-Length', '5']), Buffer.from('HELLOHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad')])}], expect: {status: 200, body: 'HELLO'}},
    after: async (h, p) => {
      // The stray bytes must not become the answer to the next request on that origin connection.
      h.origin.route(p, [{write: resp(200, ['Cache-Control', 'no-store'], 'next')}])
      const q = `${p}-next`
      h.origin.route(q, [{write: resp(200, ['Cache-Control', 'no-store'], 'next')}])
      const r = await h.request('GET', q)
      expect(r.status, describeRaw(r)).toBe(200)
      expect(r.body.toString()).toBe('next')
    },
  },
  {name: 'chunk size larger than the chunk, then FIN', rfc: 'RFC 9112 §7.1, §8', exchange: {origin: [{write: head(200, [...CC, 'Transfer-Encoding', 'chunked'])}, {write: 'ff\r\nshort\r\n0\r\n\r\n'}, {end: true}], expect: {brokenBody: true}}, notStored: {}},
  {name: 'chunk size not hex', rfc: 'RFC 9112 §7.1 (invalid framing → error)', exchange: {origin: [{write: head(200, [...CC, 'Transfer-Encoding', 'chunked'])}, {write: 'zz\r\nhello\r\n0\r\n\r\n'}, {end: true}], expect: {brokenBody: true}}, notStored: {}},
  {name: 'chunk data longer than its size', rfc: 'RFC 9112 §7.1', exchange: {origin: [{write: head(200, [...CC, 'Transfer-Encoding', 'chunked'])}, {write: '3\r\nhello world\r\n0\r\n\r\n'}, {end: true}], expect: {brokenBody: true}}, notStored: {}},
  {
    name: 'both Content-Length and Transfer-Encoding: chunked',
    rfc: 'RFC 9112 §6.3 ¶3 (chunked wins, or the message is rejected; never framed by Content-Length)',
    exchange: {origin: [{write: Buffer.concat([head(200, [...CC, 'Content-Length', '3', 'Transfer-Encoding', 'chunked']), chunk('chunked body'), Buffer.from(LAST_CHUNK)])}, {end: true}], expect: {status: [200, 502], check: (r) => (r.status === 200 ? expect(r.body.toString()).toBe('chunked body') : undefined)}},
    notStored: {storedOk: [Buffer.from('chunked body')]},
  },
  {name: 'two different Content-Length fields', rfc: 'RFC 9112 §6.3 ¶5 (a proxy must discard it and send 502)', exchange: {origin: [{write: Buffer.concat([head(200, [...CC, 'Content-Length', '5', 'Content-Length', '7']), Buffer.from('HELLO!!')])}, {end: true}], expect: {status: 502}}, notStored: {}},
  {name: 'Content-Length not a number', rfc: 'RFC 9112 §6.3 ¶5', exchange: {origin: [{write: Buffer.concat([head(200, [...CC, 'Content-Length', 'five']), Buffer.from('HELLO')])}, {end: true}], expect: {status: 502}}, notStored: {}},
  {name: 'negative Content-Length', rfc: 'RFC 9112 §6.3 ¶5', exchange: {origin: [{write: Buffer.concat([head(200, [...CC, 'Content-Length', '-1']), Buffer.from('HELLO')])}, {end: true}], expect: {status: 502}}, notStored: {}},

  // ---- interim responses -------------------------------------------------------------------------------------------
  {
    name: 'one 100 Continue before the final response (to a GET without Expect)',
    rfc: 'RFC 9110 §15.2 (a client must parse a 1xx it did not expect)',
    // undici 7 destroyed the connection on any 100 it did not ask for; patches/undici+7.30.2.patch handles it as the
    // interim response it is.
    exchange: {origin: [{write: Buffer.concat([head(100), resp(200, ['Cache-Control', 'no-store'], 'after one')])}], expect: {status: 200, body: 'after one'}},
  },
  {
    name: '300 × 100 Continue before the final response',
    rfc: 'RFC 9110 §15.2 (a client must be able to parse any number of 1xx before the final response)',
    exchange: {origin: [{write: Buffer.concat([...Array.from({length: 300}, () => head(100)), resp(200, ['Cache-Control', 'no-store'], 'after the flood')])}], expect: {status: 200, body: 'after the flood'}},
  },
  {
    name: '500 × 103 Early Hints before the final response',
    rfc: 'RFC 9110 §15.2, RFC 8297',
    exchange: {origin: [{write: Buffer.concat([...Array.from({length: 500}, (_, i) => head(103, ['Link', `</s${i}.css>; rel=preload`])), resp(200, CC, 'hinted')])}], expect: {status: 200, body: 'hinted'}},
  },
  {name: '1xx flood then RST', rfc: 'RFC 9110 §15.6.3', exchange: {origin: resetAfter(Buffer.concat(Array.from({length: 200}, () => head(103, ['Link', '</a.css>; rel=preload'])))), expect: {check: (r) => expect(r.status === 502 || (r.status === 0 && r.cut), describeRaw(r)).toBe(true)}}, notStored: {}},
  {name: '101 Switching Protocols to a plain GET', rfc: 'RFC 9110 §15.2.2 (only in answer to Upgrade; otherwise invalid → 502)', exchange: {origin: [{write: head(101, ['Connection', 'upgrade', 'Upgrade', 'websocket'])}, {write: 'garbage after upgrade'}, {end: true}], expect: {status: 502}}, notStored: {}},

  // ---- odd status lines and headers --------------------------------------------------------------------------------
  {name: 'status code of four digits', rfc: 'RFC 9112 §4 (status-code = 3DIGIT)', exchange: {origin: [{write: resp(200, CC, 'x').toString('latin1').replace('200 OK', '2000 OK')}, {end: true}], expect: {status: 502}}, notStored: {}},
  {name: 'status line not HTTP', rfc: 'RFC 9112 §4', exchange: {origin: [{write: 'ICY 200 OK\r\nContent-Length: 2\r\n\r\nhi'}, {end: true}], expect: {status: 502}}, notStored: {}},
  {name: 'HTTP/0.9-style answer (no status line)', rfc: 'RFC 9112 §4', exchange: {origin: [{write: 'just some bytes\n'}, {end: true}], expect: {status: 502}}, notStored: {}},
  {name: 'header line without a colon', rfc: 'RFC 9112 §5 (invalid field line → reject the message)', exchange: {origin: [{write: 'HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nthis is not a field\r\nContent-Length: 2\r\n\r\nhi'}, {end: true}], expect: {status: [200, 502], check: (r) => (r.status === 200 ? expect(r.body.toString()).toBe('hi') : undefined)}}},
  {name: 'status line without a reason phrase', rfc: 'RFC 9112 §4 (reason-phrase may be empty)', exchange: {origin: [{write: 'HTTP/1.1 200 \r\nCache-Control: no-store\r\nContent-Length: 2\r\n\r\nok'}], expect: {status: 200, body: 'ok'}}},
  {name: 'an 80 KB response header', rfc: 'RFC 9110 §5.4 (a recipient may refuse a field section too large → 502)', exchange: {origin: [{write: resp(200, [...CC, 'X-Huge', 'h'.repeat(80_000)], 'big head')}], expect: {status: [200, 502], check: (r) => (r.status === 200 ? expect(r.body.toString()).toBe('big head') : undefined)}}},
  {name: '3000 response header fields', rfc: 'RFC 9110 §5.4', exchange: {origin: [{write: resp(200, [...CC, ...Array.from({length: 3000}, (_, i) => [`X-F${i}`, 'v']).flat()], 'many fields')}], expect: {status: [200, 502], check: (r) => (r.status === 200 ? expect(r.body.toString()).toBe('many fields') : undefined)}}},

  // ---- bodies where there must be none -----------------------------------------------------------------------------
  {
    name: 'HEAD answered with a body',
    rfc: 'RFC 9110 §9.3.2, RFC 9112 §6.3 ¶1 (a HEAD response ends at the header section; the bytes after it are not its body)',
    exchange: {origin: [{write: Buffer.concat([head(200, ['Cache-Control', 'no-store', 'Content-Length', '5']), Buffer.from('HELLO')])}], method: 'HEAD', expect: {status: 200, check: (r) => expect(r.header('content-length')).toBe('5')}},
    after: async (h, p) => {
      h.origin.route(p, [{write: resp(200, ['Cache-Control', 'no-store'], 'real body')}])
      for (let i = 0; i < 3; i++) {
        const r = await h.request('GET', p)
        expect(r.status, describeRaw(r)).toBe(200)
        expect(r.body.toString()).toBe('real body')
      }
    },
  },
  {
    name: '204 with a body',
    rfc: 'RFC 9110 §15.3.5, RFC 9112 §6.3 ¶1 (a 204 ends at the header section)',
    exchange: {origin: [{write: Buffer.concat([head(204, ['Cache-Control', 'no-store', 'Content-Length', '5']), Buffer.from('HELLO')])}], expect: {status: 204, check: (r) => expect(r.body.length).toBe(0)}},
    after: async (h, p) => {
      h.origin.route(p, [{write: resp(200, ['Cache-Control', 'no-store'], 'real body')}])
      for (let i = 0; i < 3; i++) {
        const r = await h.request('GET', p)
        expect(r.status, describeRaw(r)).toBe(200)
        expect(r.body.toString()).toBe('real body')
      }
    },
  },
  {
    name: '304 (revalidation) with a body',
    rfc: 'RFC 9110 §15.4.5, RFC 9112 §6.3 ¶1 (a 304 ends at the header section)',
    prime: [{origin: [{write: resp(200, ['Cache-Control', 'max-age=0', 'ETag', '"e"'], 'stored body')}], expect: {status: 200, body: 'stored body'}}],
    exchange: {origin: [{write: Buffer.concat([head(304, ['Cache-Control', 'max-age=0', 'ETag', '"e"', 'Content-Length', '9']), Buffer.from('GARBAGE!!')])}], expect: {status: 200, body: 'stored body'}},
    after: async (h, p) => {
      const q = `${p}-next`
      h.origin.route(q, [{write: resp(200, ['Cache-Control', 'no-store'], 'real body')}])
      for (let i = 0; i < 3; i++) {
        const r = await h.request('GET', q)
        expect(r.status, describeRaw(r)).toBe(200)
        expect(r.body.toString()).toBe('real body')
      }
    },
  },

  // ---- slow origins ------------------------------------------------------------------------------------------------
  {
    name: 'a body dripped a byte at a time',
    rfc: 'RFC 9112 §6 (a slow body is still a body); the daemon keeps answering others meanwhile',
    exchange: {origin: [{write: head(200, [...CC, 'Content-Length', '40'])}, {drip: 'abcdefghijklmnopqrstuvwxyz0123456789ABCD', size: 1, delayMs: 25}], expect: {status: 200, body: 'abcdefghijklmnopqrstuvwxyz0123456789ABCD'}},
  },
  {
    name: 'a header section dripped a byte at a time',
    rfc: 'RFC 9112 §2',
    exchange: {origin: [{drip: resp(200, ['Cache-Control', 'no-store'], 'slow head'), size: 3, delayMs: 10}], expect: {status: 200, body: 'slow head'}},
  },
]

// ---- changing validators between slices (RFC 9111 §3.4: parts combine only under the same strong validator) ---------
const V1 = payload(4 * SLICE + 100, 1)
const V2 = payload(4 * SLICE + 100, 2)
const V2_LONGER = payload(5 * SLICE + 7, 3)
/** `v1Ok`: the first response may have been stored whole (no partial caching without a strong validator), so V1 stays fresh. */
const sliceCases: Array<{name: string; rfc: string; v1: Script; v2: Script; v2Body: Buffer; v1Ok?: true}> = [
  {name: 'ETag changes between two slice fetches', rfc: 'RFC 9111 §3.4, RFC 9110 §8.8.3', v1: rangeOrigin(V1, [...CC, 'ETag', '"v1"']), v2: rangeOrigin(V2, [...CC, 'ETag', '"v2"']), v2Body: V2},
  {
    name: 'Last-Modified changes between two slice fetches (no ETag)',
    rfc: 'RFC 9111 §3.4, RFC 9110 §8.8.2',
    v1: rangeOrigin(V1, [...CC, 'Last-Modified', 'Mon, 01 Jan 2024 00:00:00 GMT']),
    v2: rangeOrigin(V2, [...CC, 'Last-Modified', 'Tue, 02 Jan 2024 00:00:00 GMT']),
    v2Body: V2,
  },
  {name: 'length changes under the same ETag', rfc: 'RFC 9110 §14.4 (complete-length is part of the representation)', v1: rangeOrigin(V1, [...CC, 'ETag', '"same"']), v2: rangeOrigin(V2_LONGER, [...CC, 'ETag', '"same"']), v2Body: V2_LONGER},
  {name: 'weak ETag changes between two slice fetches', rfc: 'RFC 9111 §3.4 (weak validators never allow combining)', v1: rangeOrigin(V1, [...CC, 'ETag', 'W/"v1"']), v2: rangeOrigin(V2, [...CC, 'ETag', 'W/"v2"']), v2Body: V2, v1Ok: true},
]

describe('hostile exchanges (raw origin, raw client)', () => {
  const h = useHostile({cache: {sliceSize: SLICE}, upstream: {bodyTimeout: '2s', headersTimeout: '3s'}})

  async function run(path: string, x: Exchange, what: string): Promise<RawResponse> {
    h.origin.route(path, x.origin)
    const r = await h.request(x.method ?? 'GET', path, x.headers ?? [], {timeoutMs: x.timeoutMs ?? 6000, body: x.body})
    const msg = `${what}: ${describeRaw(r)}${r.status === 0 && (await h.died()) ? ' — THE DAEMON DIED' : ''}`
    const e = x.expect
    if (e.brokenBody) {
      const honest = (r.status >= 500 && r.complete) || (r.status >= 200 && r.status < 300 && r.cut) || (r.status === 0 && r.cut && !r.timedOut)
      expect(honest, `expected a 5xx or a cut message, got ${msg}`).toBe(true)
    }
    if (e.status !== undefined) expect(Array.isArray(e.status) ? e.status : [e.status], msg).toContain(r.status)
    if (!e.brokenBody && !e.allowCut) expect(r.complete, `message not complete: ${msg}`).toBe(true)
    if (e.body !== undefined) expect(r.body.toString('latin1'), msg).toBe((typeof e.body === 'string' ? Buffer.from(e.body) : e.body).toString('latin1'))
    if (e.bytesOf && (r.status === 200 || r.status === 206)) expectBytesOf(r, e.bytesOf, what)
    e.check?.(r)
    return r
  }

  for (const c of cases) {
    it(`${c.item ? `[item ${c.item}] ` : ''}${c.name} — ${c.rfc}`, async () => {
      await h.ensure()
      const p = casePath(c.name)
      for (const [i, x] of (c.prime ?? []).entries()) await run(p, x, `prime ${i + 1}`)
      await run(p, c.exchange, 'exchange')
      await h.control()
      if (c.notStored) {
        const after = Buffer.from(`AFTER ${p}`)
        const ok = [after, ...(c.notStored.storedOk ?? [])]
        h.origin.route(p, rangeOrigin(after, [...CC, 'ETag', '"after"']))
        const plain = await h.request('GET', p)
        expect(plain.status, `follow-up GET: ${describeRaw(plain)}`).toBe(200)
        expect(
          ok.some((b) => b.equals(plain.body)),
          `follow-up GET served what the bad response left behind: ${describeRaw(plain)}`,
        ).toBe(true)
        if (c.exchange.headers?.length) {
          const again = await h.request(c.exchange.method ?? 'GET', p, c.exchange.headers)
          expect(again.complete, describeRaw(again)).toBe(true)
          if (again.status === 200 || again.status === 206) {
            const full = ok.find((b) => b.equals(plain.body)) ?? after
            expectBytesOf(again, full, 'follow-up with the case request')
          }
        }
      }
      await c.after?.(h, p)
      await h.control()
    })
  }

  for (const c of sliceCases) {
    it(`[validators between slices] ${c.name} — ${c.rfc}`, async () => {
      await h.ensure()
      const p = casePath(c.name)
      h.origin.route(p, c.v1)
      const first = await h.request('GET', p, ['Range', 'bytes=0-99'])
      expectBytesOf(first, V1, 'first slice (v1)')
      h.origin.route(p, c.v2)
      // Needs the stored slice 0 (v1) and new slices (now v2): the answer must be all one version, and the current one.
      const span = await h.request('GET', p, ['Range', `bytes=50-${2 * SLICE + 10}`])
      expect(span.complete, describeRaw(span)).toBe(true)
      const version = c.v1Ok && span.body.equals(V1.subarray(50, 2 * SLICE + 11)) ? V1 : c.v2Body
      expectBytesOf(span, version, 'range across a stored and a new slice')
      const back = await h.request('GET', p, ['Range', 'bytes=0-99'])
      expectBytesOf(back, version, 'slice 0 again after the change')
      const whole = await h.request('GET', p)
      expectBytesOf(whole, version, 'the whole object')
      await h.control()
    })
  }

  it('[items 1, 2] the daemon survived the whole table (no restarts needed)', () => {
    expect(h.restarts, 'cases above killed or wedged the daemon').toBe(0)
  })
})
