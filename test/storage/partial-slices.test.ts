import {describe, expect, it} from 'vitest'

import {
  allSlices,
  countSlices,
  hasSlice,
  missingRuns,
  newBitmap,
  presentBytes,
  setSlice,
  sliceCount,
  sliceEnd,
  sliceLength,
  sliceOf,
  slicesFor,
  toBitmap,
  toRuns,
} from '../../src/storage/partial-slices.js'

describe('slice arithmetic', () => {
  it('cuts an object in fixed slices with a short last one', () => {
    expect(sliceCount(0, 100)).toBe(0)
    expect(sliceCount(100, 100)).toBe(1)
    expect(sliceCount(101, 100)).toBe(2)
    expect(sliceEnd(0, 100, 250)).toBe(99)
    expect(sliceEnd(2, 100, 250)).toBe(249)
    expect(sliceLength(2, 100, 250)).toBe(50)
    expect(sliceOf(0, 100)).toBe(0)
    expect(sliceOf(99, 100)).toBe(0)
    expect(sliceOf(100, 100)).toBe(1)
  })

  it('keeps a bitmap of present slices', () => {
    const b = newBitmap(20)
    expect(b.length).toBe(3)
    expect(allSlices(b, 20)).toBe(false)
    for (const k of [0, 7, 8, 19]) setSlice(b, k)
    expect([0, 1, 7, 8, 9, 19].map((k) => hasSlice(b, k))).toEqual([true, false, true, true, false, true])
    expect(countSlices(b, 20)).toBe(4)
    // 20 slices of 10 bytes over 195 bytes: slice 19 holds 5
    expect(presentBytes(b, 10, 195)).toBe(35)
    for (let k = 0; k < 20; k++) setSlice(b, k)
    expect(allSlices(b, 20)).toBe(true)
    expect(hasSlice(b, 64)).toBe(false)
  })

  it('restores bitmaps from what msgpack hands back', () => {
    const b = toBitmap(new Uint8Array([0b101]), 10)
    expect(Buffer.isBuffer(b)).toBe(true)
    expect(b.length).toBe(2)
    expect([hasSlice(b, 0), hasSlice(b, 1), hasSlice(b, 2)]).toEqual([true, false, true])
    expect(toBitmap([255, 1], 9)).toEqual(Buffer.from([255, 1]))
    expect(toBitmap(undefined, 3)).toEqual(Buffer.from([0]))
  })

  it('finds the runs of missing slices, skipping present and in-flight ones', () => {
    const b = newBitmap(12)
    for (const k of [2, 3, 7]) setSlice(b, k)
    expect(missingRuns(b, 0, 11)).toEqual([
      {first: 0, last: 1},
      {first: 4, last: 6},
      {first: 8, last: 11},
    ])
    expect(missingRuns(b, 1, 9, (k) => k === 5)).toEqual([
      {first: 1, last: 1},
      {first: 4, last: 4},
      {first: 6, last: 6},
      {first: 8, last: 9},
    ])
    expect(missingRuns(b, 2, 3)).toEqual([])
  })

  it('maps byte ranges to slices and slices to runs', () => {
    expect(slicesFor([{start: 0, end: 0}], 100)).toEqual([0])
    expect(slicesFor([{start: 150, end: 420}, {start: 0, end: 10}, {start: 390, end: 399}], 100)).toEqual([0, 1, 2, 3, 4])
    expect(toRuns([0, 1, 2, 5, 7, 8])).toEqual([
      {first: 0, last: 2},
      {first: 5, last: 5},
      {first: 7, last: 8},
    ])
    expect(toRuns([])).toEqual([])
  })
})
