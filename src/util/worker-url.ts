import fs from 'node:fs'
import {fileURLToPath} from 'node:url'

/**
 * The compiled worker script `file` next to the calling module (`moduleUrl` = its import.meta.url). Running from
 * the TypeScript sources (vitest, bin/dev.js), a worker cannot load .ts, so the build's copy under dist/ is used.
 * Throws a clear error when that file is missing.
 */
export function workerScriptUrl(moduleUrl: string, file: string): URL {
  let url = new URL(file, moduleUrl)
  if (moduleUrl.endsWith('.ts')) url = new URL(url.href.replace(/\/src\/(?!.*\/src\/)/, '/dist/'))
  if (!fs.existsSync(fileURLToPath(url))) throw new Error(`${fileURLToPath(url)} is missing (run \`npm run build\`)`)
  return url
}
