// README "Errors" lists exactly the catalogue (src/core/errors.ts): every code with its status and exit code, in
// order. Regenerate it with `npm run build && node scripts/errors-table.mjs --write`.
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {expect, it} from 'vitest'

import {ERRORS, EXIT_CODES} from '../../src/core/errors.js'

const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../README.md')

it('README lists every catalogue code with its status and exit code', () => {
  const text = fs.readFileSync(README, 'utf8')
  const block = /<!-- errors:begin[^\n]*-->\n([\s\S]*?)\n<!-- errors:end -->/.exec(text)
  expect(block, 'README.md needs the <!-- errors:begin --> table').not.toBeNull()
  const listed = block![1]!
    .split('\n')
    .map((l) => /^\| `(TAVERN_ERR_[A-Z_]+)` \| (\d+) \| (\d+) \|/.exec(l))
    .filter((m) => m !== null)
    .map((m) => `${m[1]} ${m[2]} ${m[3]}`)
  const expected = Object.entries(ERRORS).map(([code, e]) => `${code} ${e.status} ${EXIT_CODES[e.class]}`)
  expect(listed, 'README "Errors" is out of date: npm run build && node scripts/errors-table.mjs --write').toEqual(expected)
})
