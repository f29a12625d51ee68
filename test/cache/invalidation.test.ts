import {describe, expect, it} from 'vitest'

import {invalidationTargets} from '../../src/cache/invalidation.js'

const url = new URL('http://example.com/a/b?x=1')

describe('invalidationTargets (RFC 9111 §4.4)', () => {
  it.each(['GET', 'HEAD', 'OPTIONS', 'TRACE'])('does nothing for safe method %s', (m) => {
    expect(invalidationTargets(m, 200, url, [])).toEqual([])
  })

  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'FOO'])('invalidates the target URI for %s', (m) => {
    expect(invalidationTargets(m, 204, url, [])).toEqual(['http://example.com/a/b?x=1'])
  })

  it('only for non-error responses (2xx and 3xx)', () => {
    expect(invalidationTargets('POST', 303, url, [])).toHaveLength(1)
    expect(invalidationTargets('POST', 199, url, [])).toEqual([])
    expect(invalidationTargets('POST', 404, url, [])).toEqual([])
    expect(invalidationTargets('POST', 500, url, [])).toEqual([])
  })

  it('adds same-origin Location and Content-Location, resolved against the request URL', () => {
    const h = ['Location', '/new#frag', 'Content-Location', 'c?y=2']
    expect(invalidationTargets('POST', 201, url, h)).toEqual([
      'http://example.com/a/b?x=1',
      'http://example.com/new',
      'http://example.com/a/c?y=2',
    ])
  })

  it('treats default ports and host case as the same origin', () => {
    expect(invalidationTargets('PUT', 200, url, ['Location', 'HTTP://EXAMPLE.COM:80/z'])).toContain('http://example.com/z')
  })

  it('ignores other origins (host, scheme or port differ) and garbage', () => {
    for (const loc of ['http://evil.example/a', 'https://example.com/a', 'http://example.com:8080/a', '//other.example/x', 'http://[bad']) {
      expect(invalidationTargets('POST', 200, url, ['Location', loc, 'Content-Location', loc])).toEqual(['http://example.com/a/b?x=1'])
    }
  })

  it('does not repeat the target', () => {
    expect(invalidationTargets('DELETE', 200, url, ['Content-Location', '/a/b?x=1'])).toEqual(['http://example.com/a/b?x=1'])
  })
})
