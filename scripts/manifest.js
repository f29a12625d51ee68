#!/usr/bin/env node
// Writes oclif.manifest.json with @oclif/core alone (what `oclif manifest` does, minus the 54 MB oclif dev tool).
import {Plugin} from '@oclif/core'
import {writeFileSync} from 'node:fs'
import path from 'node:path'

const root = path.resolve(process.argv[2] ?? '.')
const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true})
await plugin.load()
writeFileSync(path.join(root, 'oclif.manifest.json'), JSON.stringify(plugin.manifest, null, 2))
console.log(`wrote ${Object.keys(plugin.manifest.commands).length} commands to oclif.manifest.json`)
