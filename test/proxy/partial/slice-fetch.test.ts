import {describe, expect, it} from 'vitest'

import {probeRun} from '../../../src/proxy/partial/slice-fetch.js'

describe('probeRun', () => {
  it('picks the first run to fetch for an object of unknown length', () => {
    expect(probeRun('bytes=1000-1999', 1024)).toEqual({first: 0, last: 1})
    expect(probeRun('bytes=5000-', 1024)).toEqual({first: 4, last: undefined})
    expect(probeRun('bytes=-500', 1024)).toEqual({first: 0, last: 0})
    expect(probeRun('bytes=9000-9100, 10-20, -5', 1024)).toEqual({first: 0, last: 0})
    expect(probeRun('bytes=3000-4000,-5', 1024)).toEqual({first: 2, last: 3})
    expect(probeRun('items=0-1', 1024)).toBeUndefined()
    expect(probeRun('bytes=5-1', 1024)).toBeUndefined()
  })
})
