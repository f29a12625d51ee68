import path from 'node:path'

import {Flags} from '@oclif/core'

import type {LoadedConfig} from '../config/load.js'

/** The flags that shape the daemon's config: `serve` takes them, and `config check` takes the same to check that run. */
export const serveConfigFlags = {
  config: Flags.string({char: 'c', description: 'config file (default: search the working directory for tavern.config.* / .tavernrc*)'}),
  listen: Flags.string({description: 'data-plane HOST:PORT [config: listen; default 127.0.0.1:8080]'}),
  upstream: Flags.string({description: 'origin URL; repeat for several (replaces the config\'s upstreams)', multiple: true}),
  storage: Flags.string({description: 'storage directory [config: storage.dir; default ./.tavern]'}),
  socket: Flags.string({description: 'admin socket path [config: socket; env: TAVERN_SOCKET; default: /run/tavern/tavern.sock for root, /tmp/tavern-<uid>/tavern.sock otherwise]'}),
  metrics: Flags.string({description: 'serve Prometheus /metrics on HOST:PORT [config: metrics.listen; default off]'}),
  'access-log': Flags.string({description: 'write a JSON access log line per request to PATH or "stdout" [config: accessLog]'}),
  'log-level': Flags.string({description: 'log level [config: log.level]', options: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']}),
}

export interface ServeConfigFlags {
  config?: string
  listen?: string
  upstream?: string[]
  storage?: string
  socket?: string
  metrics?: string
  'access-log'?: string
  'log-level'?: string
}

/** Flag values as config overrides (they win over the file). */
export function configOverrides(flags: ServeConfigFlags): Record<string, unknown> {
  return {
    listen: flags.listen,
    upstreams: flags.upstream,
    socket: flags.socket,
    storage: flags.storage ? {dir: flags.storage} : undefined,
    log: flags['log-level'] ? {level: flags['log-level']} : undefined,
    metrics: flags.metrics ? {listen: flags.metrics} : undefined,
    accessLog: flags['access-log'] ? {enabled: true, path: flags['access-log']} : undefined,
  }
}

/** Load the config as `serve` does: file + flag overrides, and flag paths relative to where the command ran. */
export async function loadServeConfig(flags: ServeConfigFlags): Promise<LoadedConfig> {
  const {loadConfig} = await import('../config/load.js')
  const loaded = await loadConfig({file: flags.config, overrides: configOverrides(flags)})
  // A flag given as a relative path means relative to where the command ran, not to the config file.
  if (flags.storage) loaded.config.storage.dir = path.resolve(flags.storage)
  if (flags.socket) loaded.config.socket = path.resolve(flags.socket)
  if (flags['access-log'] && flags['access-log'] !== 'stdout') loaded.config.accessLog.path = path.resolve(flags['access-log'])
  return loaded
}
