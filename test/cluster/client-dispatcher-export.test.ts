/**
 * `tavern/client` as a package user gets it: the `exports` entry resolves to dist/ with its type declarations, and
 * the example runs against it (dist/ is built by the global setup).
 */
import {execFile} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

import {describe, expect, it} from 'vitest'

import {startOrigin} from '../helpers/origin.js'

const run = promisify(execFile)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

describe('tavern/client', () => {
  it('resolves through the package exports, with declarations', async () => {
    const {stdout} = await run(process.execPath, ['--input-type=module', '-e', "const m = await import('tavern/client'); console.log(import.meta.resolve('tavern/client'), Object.keys(m).sort().join(','))"], {cwd: ROOT})
    const [resolved, names] = stdout.trim().split(' ')
    expect(fileURLToPath(resolved!)).toBe(path.join(ROOT, 'dist', 'client.js'))
    expect(names).toBe('TavernDispatcher,peerId,ringKeyOfUrl')
    const dts = fs.readFileSync(path.join(ROOT, 'dist', 'client.d.ts'), 'utf8')
    expect(dts).toContain('TavernDispatcher')
    expect(fs.readFileSync(path.join(ROOT, 'dist', 'cluster', 'client-dispatcher.d.ts'), 'utf8')).toMatch(/export declare class TavernDispatcher extends Dispatcher/)
  })

  it('the example fetches through the peers and names the owner of each URL', async () => {
    const peer = await startOrigin()
    const url = 'http://api.example/hello'
    peer.route(url, {headers: {'cache-status': 'tavern; hit'}, body: 'hi'})
    try {
      const {stdout} = await run(process.execPath, ['examples/client-dispatcher.mjs', '--peers', `${peer.url},http://127.0.0.1:1`, url, 'http://127.0.0.1:3999/none'], {cwd: ROOT})
      const lines = stdout.trim().split('\n')
      expect(lines[0]).toMatch(new RegExp(`^${url}  owner http://127\\.0\\.0\\.1:\\d+  200  tavern; hit$`))
      // Whichever of the two owns it, the live peer answers (its 404 for a target without a route).
      expect(lines[1]).toMatch(/^http:\/\/127\.0\.0\.1:3999\/none  owner http:\/\/127\.0\.0\.1:\d+  404  -$/)
      expect(peer.requests.map((r) => r.url)).toContain(url)
    } finally {
      await peer.close()
    }
  })
})
