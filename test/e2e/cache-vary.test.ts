// RFC 9111 §4.1 Vary: secondary cache keys.
import {expect, it} from 'vitest'

import {describe_, tavernStatus, useProxy} from '../helpers/fixture.js'
import {uniquePath} from '../helpers/origin.js'

const t = useProxy()

function varyRoute(vary: string, extra: Record<string, string> = {}) {
  const p = uniquePath('vary')
  t.origin.route(p, (req, n) => ({headers: {'Cache-Control': 'max-age=3600', Vary: vary, ...extra}, body: `lang=${req.header('accept-language') ?? '-'} n=${n}`}))
  return p
}

it('different Accept-Language → separate variants; the same → hit', async () => {
  const p = varyRoute('Accept-Language')
  const en1 = await t.get(p, {headers: {'Accept-Language': 'en'}})
  const en2 = await t.get(p, {headers: {'Accept-Language': 'en'}})
  expect(t.origin.countFor(p), describe_(en2)).toBe(1)
  expect(en2.text).toBe(en1.text)
  const fr = await t.get(p, {headers: {'Accept-Language': 'fr'}})
  expect(t.origin.countFor(p)).toBe(2)
  expect(fr.text).toBe('lang=fr n=2')
})

it('several variants are kept side by side (optional)', async () => {
  const p = varyRoute('Accept-Language')
  await t.get(p, {headers: {'Accept-Language': 'en'}})
  await t.get(p, {headers: {'Accept-Language': 'fr'}})
  await t.get(p, {headers: {'Accept-Language': 'de'}})
  const en = await t.get(p, {headers: {'Accept-Language': 'en'}})
  const fr = await t.get(p, {headers: {'Accept-Language': 'fr'}})
  expect(t.origin.countFor(p)).toBe(3)
  expect(en.text).toBe('lang=en n=1')
  expect(fr.text).toBe('lang=fr n=2')
})

it('a request without the varied header does not match a variant stored with it', async () => {
  const p = varyRoute('Accept-Language')
  await t.get(p, {headers: {'Accept-Language': 'en'}})
  const r = await t.get(p)
  expect(t.origin.countFor(p)).toBe(2)
  expect(r.text).toBe('lang=- n=2')
})

it('the varied header absent in both requests → hit', async () => {
  const p = varyRoute('Accept-Language')
  await t.get(p)
  const r = await t.get(p)
  expect(t.origin.countFor(p), describe_(r)).toBe(1)
})

it('Vary field names are case-insensitive', async () => {
  const p = varyRoute('accept-LANGUAGE')
  await t.get(p, {headers: {'Accept-Language': 'en'}})
  await t.get(p, {headers: {'accept-language': 'en'}})
  expect(t.origin.countFor(p)).toBe(1)
})

it('Vary on two headers: one differing → miss, both equal → hit', async () => {
  const p = varyRoute('Accept-Language, X-Variant')
  await t.get(p, {headers: {'Accept-Language': 'en', 'X-Variant': 'a'}})
  await t.get(p, {headers: {'Accept-Language': 'en', 'X-Variant': 'b'}})
  expect(t.origin.countFor(p)).toBe(2)
  await t.get(p, {headers: {'Accept-Language': 'en', 'X-Variant': 'a'}})
  expect(t.origin.countFor(p)).toBe(2)
})

it('Vary in two field lines is combined', async () => {
  const p = uniquePath('vary')
  t.origin.route(p, (_r, n) => ({headers: ['Cache-Control', 'max-age=3600', 'Vary', 'Accept-Language', 'Vary', 'X-Variant'], body: `n=${n}`}))
  await t.get(p, {headers: {'Accept-Language': 'en', 'X-Variant': 'a'}})
  await t.get(p, {headers: {'Accept-Language': 'en', 'X-Variant': 'b'}})
  expect(t.origin.countFor(p)).toBe(2)
})

it('Vary: * is never reused', async () => {
  const p = varyRoute('*')
  await t.get(p)
  await t.get(p)
  expect(t.origin.countFor(p)).toBe(2)
})

it('Vary miss reports a forward reason in Cache-Status (vary-miss or miss)', async () => {
  const p = varyRoute('Accept-Language')
  await t.get(p, {headers: {'Accept-Language': 'en'}})
  const r = await t.get(p, {headers: {'Accept-Language': 'fr'}})
  expect(String(tavernStatus(r)?.params.fwd)).toMatch(/^(vary-miss|miss|uri-miss)$/)
})

it('normalised whitespace in a varied header value still matches (optional)', async () => {
  const p = varyRoute('Accept-Language')
  await t.get(p, {headers: {'Accept-Language': 'en,fr'}})
  await t.get(p, {headers: {'Accept-Language': 'en, fr'}})
  expect(t.origin.countFor(p)).toBe(1)
})
