import {describe, expect, it} from 'vitest'

import {variantLabel} from '../../src/cli/inspect-format.js'
import {collectUrls, parseHeaderFlags, parseList} from '../../src/cli/ops.js'

describe('CLI input helpers', () => {
  it('URL lists skip blanks and comments', async () => {
    expect(parseList('a\n\n  # c\r\nb  \n')).toEqual(['a', 'b'])
    expect(await collectUrls(['x', 'y'], undefined)).toEqual(['x', 'y'])
  })

  it('-H values', () => {
    expect(parseHeaderFlags(['Accept-Language: de', 'accept-language:fr', 'X-A:  1 '])).toEqual({'Accept-Language': 'de, fr', 'X-A': '1'})
    expect(() => parseHeaderFlags(['nocolon'])).toThrow(/Name: value/)
    expect(() => parseHeaderFlags([': v'])).toThrow()
  })

  it('variant labels', () => {
    expect(variantLabel('')).toBe('(no Vary)')
    expect(variantLabel(null)).toMatch(/Vary: \*/)
    expect(variantLabel('accept-encoding=gzip&accept-language')).toBe('accept-encoding=gzip & accept-language (absent)')
  })
})
