// Eviction: with a small disk budget, /status disk usage stays bounded and old objects are refetched.
import {expect, it} from 'vitest'

import {smallDisk} from '../helpers/config.js'
import {useProxy} from '../helpers/fixture.js'
import {sleep, uniquePath} from '../helpers/origin.js'

const MAX = 1024 * 1024 // 1 MiB
const t = useProxy({config: smallDisk(MAX)})

it('disk usage stays bounded by storage.maxDiskBytes and the oldest objects are refetched', async () => {
  const paths: string[] = []
  const body = Buffer.alloc(100_000, 0x61)
  for (let i = 0; i < 40; i++) {
    const p = uniquePath('evict')
    t.origin.route(p, {headers: {'Cache-Control': 'max-age=3600'}, body})
    paths.push(p)
    const r = await t.get(p)
    expect(r.body.length).toBe(body.length)
  }
  // 4 MB went through; eviction runs in the background, so allow it a few seconds to catch up.
  const end = Date.now() + 10_000
  let s = await t.daemon.status()
  while (s.storage.diskBytes > MAX && Date.now() < end) {
    await sleep(200)
    s = await t.daemon.status()
  }
  expect(s.storage.diskBytes, JSON.stringify(s.storage)).toBeLessThanOrEqual(MAX)
  expect(s.storage.objects).toBeLessThan(40)
  expect(s.storage.objects).toBeGreaterThan(0)

  const first = await t.get(paths[0]!)
  expect(first.body.length).toBe(body.length)
  expect(t.origin.countFor(paths[0]!)).toBe(2)
  // The most recent one is still cached.
  await t.get(paths[39]!)
  expect(t.origin.countFor(paths[39]!)).toBe(1)
})
