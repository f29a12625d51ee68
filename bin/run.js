#!/usr/bin/env node
import {userInfo} from 'node:os'
import {execute, settings} from '@oclif/core'

// oclif reads the login shell from the passwd entry when SHELL is unset (systemd units, `env -i`), and a uid with
// no entry (docker run --user 12345, a made-up DynamicUser) would make every command fail before it starts.
if (process.env.SHELL === undefined) {
  try {
    userInfo()
  } catch {
    process.env.SHELL = '/bin/sh'
  }
}

// The built CLI runs dist/, always: without this, NODE_ENV=test or development (vitest sets test, and children
// inherit it) makes oclif map commands to src/*.ts and transpile them with tsx at start-up (bin/dev.js is for that).
settings.enableAutoTranspile = false
await execute({dir: import.meta.url})
