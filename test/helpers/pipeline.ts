// An in-process request pipeline with real parts and no daemon: Storage (LMDB) on a temp dir, an UpstreamGroup to
// a real origin, Stats, the built-in PURGE plugin plus any plugins given. For tests of src/proxy/ that need no
// process, listener or admin socket.
import fs from 'node:fs'
import type {IncomingMessage, ServerResponse} from 'node:http'
import os from 'node:os'
import path from 'node:path'

import {pino} from 'pino'

import {validateConfig} from '../../src/config/load.js'
import type {TavernConfig} from '../../src/config/schema.js'
import {BackgroundRunner} from '../../src/core/background.js'
import type {HookSet} from '../../src/core/hooks.js'
import type {DataPlaneServices} from '../../src/core/services.js'
import {upstreamOptions} from '../../src/daemon/daemon.js'
import {Pipeline} from '../../src/proxy/handler.js'
import {createHookSet, type HookRegistration} from '../../src/proxy/hooks.js'
import {UpstreamGroups} from '../../src/proxy/origin/groups.js'
import {UpstreamGroup} from '../../src/proxy/origin/upstream.js'
import {purgeMethodPlugin} from '../../src/proxy/purge-method.js'
import {Stats} from '../../src/stats/recorder.js'
import {Storage} from '../../src/storage/store.js'

export interface TestPipeline {
  handler: (req: IncomingMessage, res: ServerResponse) => void
  services: DataPlaneServices
  storage: Storage
  stats: Stats
  background: BackgroundRunner
  close(): Promise<void>
}

/** `config` is a raw config object (as in a config file); `upstreams` and `storage.dir` default to `origin` and a temp dir. */
export async function createTestPipeline(origin: string, config: Record<string, unknown> = {}, plugins: readonly HookRegistration[] = []): Promise<TestPipeline> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tavern-pipe-'))
  const raw = {upstreams: [origin], ...config, storage: {dir, ...(config.storage as object | undefined)}}
  const cfg: TavernConfig = validateConfig(raw, 'test pipeline')
  const log = pino({level: 'silent'})
  const background = new BackgroundRunner(log)
  const c = cfg.storage
  const storage = await Storage.open({dir: c.dir, maxDiskBytes: c.maxDiskBytes, diskHighWatermark: c.diskHighWatermark, diskLowWatermark: c.diskLowWatermark, maxMemoryBytes: c.memoryBytes, memoryMaxObjectBytes: c.memoryMaxObjectBytes, maxVariants: cfg.cache.maxVariants, evictionIntervalMs: c.evictionInterval, gcGraceSeconds: c.gcGrace / 1000, log, background})
  const groups = UpstreamGroups.build(cfg, (targets, c) => new UpstreamGroup([...targets], upstreamOptions(c)))
  const upstreams = groups.main
  const stats = new Stats()
  let hooks: HookSet = createHookSet([])
  const services: DataPlaneServices = {
    config: cfg,
    storage,
    upstreams,
    upstreamGroup: (name) => groups.get(name),
    stats,
    log,
    accessLog: undefined,
    background,
    get hooks() {
      return hooks
    },
  }
  hooks = createHookSet([purgeMethodPlugin(services), ...plugins])
  const pipeline = new Pipeline(services)
  return {
    handler: (req, res) => pipeline.handle(req, res),
    services,
    storage,
    stats,
    background,
    async close() {
      await groups.close()
      await storage.close()
      fs.rmSync(dir, {recursive: true, force: true})
    },
  }
}
