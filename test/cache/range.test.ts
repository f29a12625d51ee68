import {describe, expect, it} from 'vitest'
import {
  contentRangeHeader,
  evaluateIfRange,
  parseContentRange,
  parseRange,
  unsatisfiedRangeHeader,
  type RangeResult,
} from '../../src/cache/range.js'

const opts = {maxRanges: 10}
const ranges = (...r: [number, number][]): RangeResult => ({kind: 'ranges', ranges: r.map(([start, end]) => ({start, end}))})

describe('parseRange', () => {
  it('absent header → none', () => {
    expect(parseRange(undefined, 100, opts)).toEqual({kind: 'none'})
  })

  it('closed range a-b', () => {
    expect(parseRange('bytes=0-99', 1000, opts)).toEqual(ranges([0, 99]))
    expect(parseRange('bytes=5-5', 1000, opts)).toEqual(ranges([5, 5]))
  })

  it('open range a-', () => {
    expect(parseRange('bytes=900-', 1000, opts)).toEqual(ranges([900, 999]))
    expect(parseRange('bytes=0-', 1000, opts)).toEqual(ranges([0, 999]))
  })

  it('suffix range -n', () => {
    expect(parseRange('bytes=-100', 1000, opts)).toEqual(ranges([900, 999]))
    expect(parseRange('bytes=-1', 1000, opts)).toEqual(ranges([999, 999]))
  })

  it('suffix larger than size → whole body', () => {
    expect(parseRange('bytes=-5000', 1000, opts)).toEqual(ranges([0, 999]))
    expect(parseRange('bytes=-1000', 1000, opts)).toEqual(ranges([0, 999]))
    expect(parseRange('bytes=-99999999999999999999999', 1000, opts)).toEqual(ranges([0, 999]))
  })

  it('suffix -0 is unsatisfiable', () => {
    expect(parseRange('bytes=-0', 1000, opts)).toEqual({kind: 'unsatisfiable'})
  })

  it('clamps last-pos beyond size to size-1', () => {
    expect(parseRange('bytes=500-5000', 1000, opts)).toEqual(ranges([500, 999]))
    expect(parseRange('bytes=0-99999999999999999999999', 1000, opts)).toEqual(ranges([0, 999]))
  })

  it('unit is case-insensitive', () => {
    expect(parseRange('Bytes=0-1', 10, opts)).toEqual(ranges([0, 1]))
    expect(parseRange('BYTES=0-1', 10, opts)).toEqual(ranges([0, 1]))
  })

  it('tolerates whitespace around commas and empty list elements', () => {
    expect(parseRange('bytes=0-1 , 5-6,\t8-9', 100, opts)).toEqual(ranges([0, 1], [5, 6], [8, 9]))
    expect(parseRange('bytes=0-1,,5-6, ,', 100, opts)).toEqual(ranges([0, 1], [5, 6]))
    expect(parseRange('  bytes=0-1  ', 100, opts)).toEqual(ranges([0, 1]))
  })

  it('multiple disjoint ranges are kept (sorted ascending)', () => {
    expect(parseRange('bytes=0-9,20-29,40-49', 100, opts)).toEqual(ranges([0, 9], [20, 29], [40, 49]))
    expect(parseRange('bytes=40-49,0-9', 100, opts)).toEqual(ranges([0, 9], [40, 49]))
  })

  it.each([
    ['bytes', 'no ='],
    ['bytes=', 'empty set'],
    ['bytes=,', 'only empty elements'],
    ['bytes=abc', 'not a range'],
    ['bytes=1', 'no dash'],
    ['bytes=-', 'bare dash'],
    ['bytes=--1', 'double dash'],
    ['bytes=1-2-3', 'two dashes'],
    ['bytes=0 - 1', 'spaces inside a spec'],
    ['bytes=0x1-2', 'hex'],
    ['bytes=+1-2', 'sign'],
    ['bytes=1.5-2', 'decimal'],
    ['bytes=0-1;x', 'trailing junk'],
    ['=0-1', 'empty unit'],
    ['by tes=0-1', 'unit not a token'],
    ['bytes=0-1,garbage', 'one bad spec poisons the set'],
  ])('invalid syntax %j (%s) → ignore', (h) => {
    expect(parseRange(h, 1000, opts).kind).toBe('ignore')
  })

  it('a > b makes the whole header invalid, even beside valid specs', () => {
    expect(parseRange('bytes=5-4', 1000, opts).kind).toBe('ignore')
    expect(parseRange('bytes=0-1,5-4', 1000, opts).kind).toBe('ignore')
    // Compared exactly even past 2^53.
    expect(parseRange('bytes=99999999999999999999-99999999999999999998', 1000, opts).kind).toBe('ignore')
    // Also when a is beyond the size (still invalid syntax, not unsatisfiable).
    expect(parseRange('bytes=2000-1500', 1000, opts).kind).toBe('ignore')
  })

  it('other units → ignore with a reason', () => {
    const r = parseRange('items=0-5', 1000, opts)
    expect(r.kind).toBe('ignore')
    if (r.kind === 'ignore') expect(r.reason).toMatch(/items/)
    expect(parseRange('none=0-5', 1000, opts).kind).toBe('ignore')
  })

  it('unsatisfiable when no range overlaps', () => {
    expect(parseRange('bytes=1000-', 1000, opts)).toEqual({kind: 'unsatisfiable'})
    expect(parseRange('bytes=1000-2000', 1000, opts)).toEqual({kind: 'unsatisfiable'})
    expect(parseRange('bytes=5000-6000,1000-1000,-0', 1000, opts)).toEqual({kind: 'unsatisfiable'})
    expect(parseRange('bytes=99999999999999999999-', 1000, opts)).toEqual({kind: 'unsatisfiable'})
  })

  it('drops unsatisfiable specs when others are satisfiable', () => {
    expect(parseRange('bytes=5000-6000,0-9', 1000, opts)).toEqual(ranges([0, 9]))
    expect(parseRange('bytes=-0,990-', 1000, opts)).toEqual(ranges([990, 999]))
  })

  it('size 0: every range is unsatisfiable', () => {
    for (const h of ['bytes=0-', 'bytes=0-0', 'bytes=-1', 'bytes=-100', 'bytes=0-10,-5']) {
      expect(parseRange(h, 0, opts)).toEqual({kind: 'unsatisfiable'})
    }
    // Bad syntax is still ignored rather than 416.
    expect(parseRange('bytes=x', 0, opts).kind).toBe('ignore')
  })

  it('coalesces overlapping ranges', () => {
    expect(parseRange('bytes=0-50,25-75', 1000, opts)).toEqual(ranges([0, 75]))
    expect(parseRange('bytes=10-20,0-100', 1000, opts)).toEqual(ranges([0, 100]))
    expect(parseRange('bytes=500-600,-500', 1000, opts)).toEqual(ranges([500, 999]))
    expect(parseRange('bytes=0-9,0-9,0-9', 1000, opts)).toEqual(ranges([0, 9]))
  })

  it('coalesces adjacent ranges but not ranges with a gap', () => {
    expect(parseRange('bytes=0-9,10-19', 1000, opts)).toEqual(ranges([0, 19]))
    expect(parseRange('bytes=10-19,0-9', 1000, opts)).toEqual(ranges([0, 19]))
    expect(parseRange('bytes=0-9,11-19', 1000, opts)).toEqual(ranges([0, 9], [11, 19]))
  })

  it('coalesces out-of-order mixed forms and keeps ascending order', () => {
    expect(parseRange('bytes=-10,50-59,0-4,5-9,55-', 100, opts)).toEqual(ranges([0, 9], [50, 99]))
  })

  it('too many ranges after coalescing → ignore', () => {
    const many = 'bytes=' + Array.from({length: 11}, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',')
    const r = parseRange(many, 1000, opts)
    expect(r.kind).toBe('ignore')
    if (r.kind === 'ignore') expect(r.reason).toMatch(/11 ranges/)
    // Exactly at the limit is fine.
    const ten = 'bytes=' + Array.from({length: 10}, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',')
    expect(parseRange(ten, 1000, opts).kind).toBe('ranges')
  })

  it('many ranges that coalesce below the limit are served', () => {
    // 500 single-byte adjacent ranges collapse into one.
    const h = 'bytes=' + Array.from({length: 500}, (_, i) => `${i}-${i}`).join(',')
    expect(parseRange(h, 1000, opts)).toEqual(ranges([0, 499]))
  })

  it('maxRanges 1 allows a single range only', () => {
    expect(parseRange('bytes=0-1', 100, {maxRanges: 1})).toEqual(ranges([0, 1]))
    expect(parseRange('bytes=0-1,5-6', 100, {maxRanges: 1}).kind).toBe('ignore')
  })

  it('rejects a bad size argument', () => {
    expect(() => parseRange('bytes=0-1', -1, opts)).toThrow(RangeError)
    expect(() => parseRange('bytes=0-1', 1.5, opts)).toThrow(RangeError)
  })
})

describe('parseContentRange', () => {
  it('parses a satisfied range with a complete length', () => {
    expect(parseContentRange('bytes 0-99/1000')).toEqual({start: 0, end: 99, size: 1000})
    expect(parseContentRange('bytes 999-999/1000')).toEqual({start: 999, end: 999, size: 1000})
    expect(parseContentRange('Bytes 0-0/1')).toEqual({start: 0, end: 0, size: 1})
  })

  it('parses an unknown complete length', () => {
    expect(parseContentRange('bytes 0-99/*')).toEqual({start: 0, end: 99, size: undefined})
  })

  it('parses an unsatisfied range', () => {
    expect(parseContentRange('bytes */1000')).toEqual({unsatisfiedSize: 1000})
    expect(parseContentRange('bytes */0')).toEqual({unsatisfiedSize: 0})
  })

  it.each([
    'bytes 5-4/1000', // last < first
    'bytes 0-1000/1000', // size <= last
    'bytes 0-99/99',
    'bytes */*',
    'bytes 0-99',
    'bytes=0-99/1000',
    'bytes  0-99/1000',
    'bytes -99/1000',
    'bytes 0-/1000',
    'items 0-99/1000',
    'bytes 0-99/1000 x',
    'bytes 0-99999999999999999999/99999999999999999999999',
    '',
    'garbage',
  ])('invalid %j → undefined', (v) => {
    expect(parseContentRange(v)).toBeUndefined()
  })
})

describe('Content-Range formatting', () => {
  it('formats satisfied and unsatisfied values', () => {
    expect(contentRangeHeader({start: 0, end: 99}, 1000)).toBe('bytes 0-99/1000')
    expect(unsatisfiedRangeHeader(1000)).toBe('bytes */1000')
  })

  it('round-trips through parseContentRange', () => {
    expect(parseContentRange(contentRangeHeader({start: 7, end: 42}, 43))).toEqual({start: 7, end: 42, size: 43})
    expect(parseContentRange(unsatisfiedRangeHeader(0))).toEqual({unsatisfiedSize: 0})
  })
})

describe('evaluateIfRange', () => {
  const lm = 'Sun, 06 Nov 1994 08:49:37 GMT'
  const stored = {etag: '"abc"', lastModified: lm}

  it('absent → the Range applies', () => {
    expect(evaluateIfRange(undefined, stored)).toBe(true)
    expect(evaluateIfRange(undefined, {})).toBe(true)
  })

  it('strong entity-tag match', () => {
    expect(evaluateIfRange('"abc"', stored)).toBe(true)
    expect(evaluateIfRange(' "abc" ', stored)).toBe(true)
    expect(evaluateIfRange('""', {etag: '""'})).toBe(true)
  })

  it('different tag, missing stored tag → false', () => {
    expect(evaluateIfRange('"abd"', stored)).toBe(false)
    expect(evaluateIfRange('"ABC"', stored)).toBe(false)
    expect(evaluateIfRange('"abc"', {lastModified: lm})).toBe(false)
  })

  it('weak tags never match', () => {
    expect(evaluateIfRange('W/"abc"', stored)).toBe(false)
    expect(evaluateIfRange('"abc"', {etag: 'W/"abc"'})).toBe(false)
    expect(evaluateIfRange('W/"abc"', {etag: 'W/"abc"'})).toBe(false)
  })

  it('date equal to Last-Modified → true', () => {
    expect(evaluateIfRange(lm, stored)).toBe(true)
    expect(evaluateIfRange(lm, {lastModified: lm})).toBe(true)
  })

  it('obsolete date formats compare by value', () => {
    expect(evaluateIfRange('Sunday, 06-Nov-94 08:49:37 GMT', stored)).toBe(true)
    expect(evaluateIfRange('Sun Nov  6 08:49:37 1994', stored)).toBe(true)
    expect(evaluateIfRange(lm, {lastModified: 'Sun Nov  6 08:49:37 1994'})).toBe(true)
  })

  it('different date, or no stored Last-Modified → false', () => {
    expect(evaluateIfRange('Sun, 06 Nov 1994 08:49:38 GMT', stored)).toBe(false)
    expect(evaluateIfRange('Sat, 05 Nov 1994 08:49:37 GMT', stored)).toBe(false)
    expect(evaluateIfRange(lm, {etag: '"abc"'})).toBe(false)
    expect(evaluateIfRange(lm, {lastModified: 'not a date'})).toBe(false)
  })

  it.each([
    'garbage',
    'abc', // unquoted tag
    '"abc', // unterminated
    '"a"b"',
    '"abc", "def"', // a list is not allowed in If-Range
    '*',
    '',
    '1994-11-06T08:49:37Z', // ISO is not an HTTP-date
    '1994',
    'Sun, 06 Nov 1994 08:49:37 UTC',
    'Sun, 31 Nov 1994 08:49:37 GMT', // no such day
    'Sun, 06 Nov 1994 24:00:00 GMT',
  ])('garbage %j → false', (v) => {
    expect(evaluateIfRange(v, {etag: 'abc', lastModified: lm})).toBe(false)
  })
})
