#!/usr/bin/env node
// Development entry: oclif maps dist/ -> src/ via tsconfig.json's outDir/rootDir and registers tsx itself.
// A manifest left by `npm run build` would hide commands added since, so drop it.
import {rmSync} from 'node:fs'
import {execute} from '@oclif/core'

rmSync(new URL('../oclif.manifest.json', import.meta.url), {force: true})
await execute({development: true, dir: import.meta.url})
