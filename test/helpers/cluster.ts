/**
 * A static Tavern cluster on loopback ports for e2e tests: N real daemons (from dist/), each listing all of them as
 * `cluster.peers`, one upstream origin. Ports are chosen before the daemons start (every node must know the others').
 */
import net from 'node:net'
import path from 'node:path'

import {type DaemonHandle, makeTempDir, startDaemon} from './daemon.js'

/** A TCP port nothing listens on right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, host, r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

export interface ClusterNodeSpec {
  port: number
  url: string
  dir: string
}

export interface StartClusterOptions {
  /** Nodes (default 3). */
  size?: number
  origin: string
  /** Extra `cluster` keys (health, timeouts, trust…), merged over the defaults below. */
  cluster?: Record<string, unknown>
  /** Per node: override the peer list it is given (for rings that disagree). */
  peersFor?: (i: number, all: ClusterNodeSpec[]) => unknown[]
  /** More top-level config keys (for every node; configFor: per node). */
  config?: Record<string, unknown>
  configFor?: (i: number) => Record<string, unknown>
  logLevel?: string
}

/**
 * Quick health checks for tests, with a timeout a loaded CI machine still meets (probes on loopback have taken over
 * 100 ms there): a dead peer is noticed within ~1 s by probes (at once by a refused forward), a returning one in ~1 s.
 */
export const FAST_HEALTH = {interval: '500ms', timeout: '450ms', fall: 2, rise: 2}

export function nodeConfig(i: number, specs: ClusterNodeSpec[], o: StartClusterOptions): Record<string, unknown> {
  const s = specs[i]!
  return {
    listen: `127.0.0.1:${s.port}`,
    socket: path.join(s.dir, 'admin.sock'),
    storage: {dir: path.join(s.dir, 'storage')},
    upstreams: [o.origin],
    log: {level: o.logLevel ?? 'info'},
    ...o.config,
    ...o.configFor?.(i),
    cluster: {
      self: s.url,
      peers: o.peersFor ? o.peersFor(i, specs) : specs.map((x) => x.url),
      health: FAST_HEALTH,
      connectTimeout: '300ms',
      ...o.cluster,
    },
  }
}

export interface Cluster {
  specs: ClusterNodeSpec[]
  nodes: Array<DaemonHandle | undefined>
  /** Start node i again (after a stop), same port, same storage. */
  restart(i: number): Promise<DaemonHandle>
  stopAll(): Promise<void>
}

export async function startCluster(o: StartClusterOptions): Promise<Cluster> {
  const size = o.size ?? 3
  const specs: ClusterNodeSpec[] = []
  for (let i = 0; i < size; i++) {
    const port = await freePort()
    specs.push({port, url: `http://127.0.0.1:${port}`, dir: makeTempDir(`tavern-cluster-${i}-`)})
  }
  const start = (i: number) => startDaemon({bare: true, config: nodeConfig(i, specs, o)})
  const nodes: Array<DaemonHandle | undefined> = await Promise.all(specs.map((_, i) => start(i)))
  return {
    specs,
    nodes,
    async restart(i) {
      const d = await start(i)
      nodes[i] = d
      return d
    },
    async stopAll() {
      await Promise.all(nodes.map((d) => d?.stop('SIGTERM', 15_000).catch(() => d.kill9())))
    },
  }
}
