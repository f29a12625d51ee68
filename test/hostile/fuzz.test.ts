/**
 * A small property-based fuzz run inside `npm test` (long runs: `npm run fuzz -- --runs N --seed S`).
 * The seed is random unless TAVERN_FUZZ_SEED is set; a failure prints it with the shrunk counterexample.
 */
import {expect, it} from 'vitest'

import {fuzz} from '../fuzz/model.js'

it('fuzz: random origin behaviours × random requests keep every invariant (and fds return to baseline)', async () => {
  const seed = Number(process.env.TAVERN_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
  const runs = Number(process.env.TAVERN_FUZZ_RUNS ?? 60)
  // Bounded: a failure found early still shrinks, but the whole run stops after 60 s (the CI budget).
  const r = await fuzz({runs, seed, timeLimitMs: 60_000})
  expect(r.failed, `seed ${seed} (reproduce: npm run fuzz -- --runs ${runs} --seed ${seed})\ncounterexample: ${r.counterexample}\nerror: ${r.error}`).toBe(false)
}, 110_000)
