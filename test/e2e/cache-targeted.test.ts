// RFC 9213 targeted cache-control fields: Tavern-Cache-Control > CDN-Cache-Control > Cache-Control.
import {expect, it} from 'vitest'

import {describe_, useProxy} from '../helpers/fixture.js'
import {type ResponseSpec, uniquePath} from '../helpers/origin.js'

const t = useProxy()

async function twice(headers: ResponseSpec['headers']) {
  const p = uniquePath('targeted')
  t.origin.route(p, (_r, n) => ({headers, body: `v${n}`}))
  await t.get(p)
  const r2 = await t.get(p)
  return {r2, count: t.origin.countFor(p)}
}

it('CDN-Cache-Control max-age overrides Cache-Control: no-store', async () => {
  const {count, r2} = await twice({'Cache-Control': 'no-store', 'CDN-Cache-Control': 'max-age=3600'})
  expect(count, describe_(r2)).toBe(1)
})

it('CDN-Cache-Control: no-store overrides Cache-Control max-age', async () => {
  const {count} = await twice({'Cache-Control': 'max-age=3600', 'CDN-Cache-Control': 'no-store'})
  expect(count).toBe(2)
})

it('CDN-Cache-Control max-age=0 overrides Cache-Control s-maxage', async () => {
  const {count} = await twice({'Cache-Control': 's-maxage=3600', 'CDN-Cache-Control': 'max-age=0'})
  expect(count).toBe(2)
})

it('Tavern-Cache-Control overrides CDN-Cache-Control and Cache-Control', async () => {
  const {count, r2} = await twice({'Cache-Control': 'no-store', 'CDN-Cache-Control': 'no-store', 'Tavern-Cache-Control': 'max-age=3600'})
  expect(count, describe_(r2)).toBe(1)
})

it('Tavern-Cache-Control: no-store overrides CDN-Cache-Control max-age', async () => {
  const {count} = await twice({'CDN-Cache-Control': 'max-age=3600', 'Tavern-Cache-Control': 'no-store'})
  expect(count).toBe(2)
})

it('a targeted field with a parse error is ignored (falls back to Cache-Control)', async () => {
  const {count, r2} = await twice({'Cache-Control': 'max-age=3600', 'CDN-Cache-Control': 'max-age="3600'})
  expect(count, describe_(r2)).toBe(1)
})

it('the targeted max-age is used for Expires-bearing responses too', async () => {
  const {count} = await twice({Expires: 'Thu, 01 Jan 1970 00:00:00 GMT', 'CDN-Cache-Control': 'max-age=3600'})
  expect(count).toBe(1)
})
