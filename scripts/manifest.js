#!/usr/bin/env node
// Writes oclif.manifest.json with @oclif/core alone (what `oclif manifest` does, minus the 54 MB oclif dev tool).
import {Plugin} from '@oclif/core'
import {writeFileSync} from 'node:fs'
import path from 'node:path'

const root = path.resolve(process.argv[2] ?? '.')
// Under NODE_ENV=test/development (a build started from vitest's global setup inherits NODE_ENV=test) oclif maps
// commands to src/*.ts, and the manifest would send `node bin/run.js` to TypeScript it cannot load.
delete process.env.NODE_ENV
const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true})
await plugin.load()
writeFileSync(path.join(root, 'oclif.manifest.json'), JSON.stringify(plugin.manifest, null, 2))
console.log(`wrote ${Object.keys(plugin.manifest.commands).length} commands to oclif.manifest.json`)
