/**
 * Every config key reaches the code that should use it: for each leaf key of ConfigSchema there is at least one
 * e2e row (test/e2e/config-wiring/groups.ts) that starts a daemon with a non-default value and fails if the
 * daemon ignored the key. A key added to the schema without a row fails the first test, naming the key.
 */
import {describe, expect, it} from 'vitest'

import {ConfigSchema} from '../../src/config/schema.js'
import {leafKeys, runGroups} from '../helpers/config-keys.js'
import {FAST_GROUPS} from './config-wiring/groups.js'

describe('config wiring table', () => {
  const rows = FAST_GROUPS.flatMap((g) => g.rows.map((r) => r.key))
  const keys = leafKeys(ConfigSchema)

  it('has a row for every config key', () => {
    const missing = keys.filter((k) => !rows.includes(k))
    expect(
      missing.map((k) => `config key "${k}" has no row in test/e2e/config-wiring/groups.ts: add one that starts a daemon with a non-default ${k} and fails if the daemon ignored it`),
    ).toEqual([])
  })

  it('has no row for a key the schema does not have', () => {
    const stale = [...new Set(rows)].filter((k) => !keys.includes(k))
    expect(stale.map((k) => `row for "${k}" in test/e2e/config-wiring/groups.ts names no config key (renamed or removed?)`)).toEqual([])
  })
})

runGroups(FAST_GROUPS)
