import {describe, expect, it} from 'vitest'

import {parsePurgeType} from '../../src/proxy/purge-method.js'

describe('Purge-Type header', () => {
  it('file (default) expires, dir is a directory, hard deletes', () => {
    expect(parsePurgeType([])).toEqual({dir: false, mode: 'expire'})
    expect(parsePurgeType(['file'])).toEqual({dir: false, mode: 'expire'})
    expect(parsePurgeType(['file,hard'])).toEqual({dir: false, mode: 'delete'})
    expect(parsePurgeType(['DIR'])).toEqual({dir: true, mode: 'expire'})
    expect(parsePurgeType(['dir, hard'])).toEqual({dir: true, mode: 'delete'})
    expect(parsePurgeType(['dir', 'hard'])).toEqual({dir: true, mode: 'delete'})
    expect(parsePurgeType(['hard'])).toEqual({dir: false, mode: 'delete'})
    expect(parsePurgeType(['soft'])).toBeUndefined()
    expect(parsePurgeType(['file,dir'])).toBeUndefined()
  })
})
