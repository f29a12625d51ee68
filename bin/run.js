#!/usr/bin/env node
import {execute, settings} from '@oclif/core'

// The built CLI runs dist/, always: without this, NODE_ENV=test or development (vitest sets test, and children
// inherit it) makes oclif map commands to src/*.ts and transpile them with tsx at start-up (bin/dev.js is for that).
settings.enableAutoTranspile = false
await execute({dir: import.meta.url})
