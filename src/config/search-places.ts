import fs from 'node:fs'
import path from 'node:path'

/** Where the config is searched for in the working directory (cosmiconfig searchPlaces, in order). */
export const SEARCH_PLACES = [
  'package.json',
  '.tavernrc',
  '.tavernrc.json',
  '.tavernrc.yaml',
  '.tavernrc.yml',
  '.tavernrc.mjs',
  '.tavernrc.js',
  'tavern.config.json',
  'tavern.config.yaml',
  'tavern.config.yml',
  'tavern.config.mjs',
  'tavern.config.js',
]

/**
 * Whether the search would find anything in `cwd`, without loading cosmiconfig or zod: one-shot commands call this
 * first and load the config only when there is one (a package.json counts only with a "tavern" key).
 */
export function configMayExist(cwd: string): boolean {
  for (const name of SEARCH_PLACES) {
    const file = path.join(cwd, name)
    if (name === 'package.json') {
      try {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown
        if (pkg !== null && typeof pkg === 'object' && 'tavern' in pkg) return true
      } catch {
        // absent or not JSON: cosmiconfig would not use it either
      }
    } else if (fs.existsSync(file)) return true
  }
  return false
}
