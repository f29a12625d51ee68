#!/usr/bin/env node
// The README "Errors" table from the catalogue (src/core/errors.ts, built: dist/core/errors.js).
//   node scripts/errors-table.mjs            print the table
//   node scripts/errors-table.mjs --write    replace the table between the markers in README.md
// test/core/errors-readme.test.ts fails when README.md and the catalogue disagree.
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const {ERRORS, EXIT_CODES} = await import(path.join(root, 'dist/core/errors.js'))
const rows = Object.entries(ERRORS).map(([code, e]) => `| \`${code}\` | ${e.status} | ${EXIT_CODES[e.class]} | ${e.summary.replace(/\|/g, '\\|')} |`)
const table = ['| code | HTTP status | CLI exit | meaning |', '|---|---|---|---|', ...rows].join('\n')
if (process.argv.includes('--write')) {
  const file = path.join(root, 'README.md')
  const text = fs.readFileSync(file, 'utf8')
  const re = /(<!-- errors:begin[^\n]*-->\n)[\s\S]*?\n?(<!-- errors:end -->)/
  if (!re.test(text)) throw new Error('README.md has no <!-- errors:begin --> … <!-- errors:end --> markers')
  fs.writeFileSync(file, text.replace(re, `$1${table}\n$2`))
  console.log(`wrote ${rows.length} codes to README.md`)
} else console.log(table)
