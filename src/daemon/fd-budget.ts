import fs from 'node:fs'

/** Assumed open-file limit where /proc/self/limits cannot be read (not Linux). */
export const ASSUMED_FD_LIMIT = 4096
/** Descriptors kept for everything that is not a client or origin connection: LMDB, stdio, libuv, the metrics worker, the access log, admin connections. */
export const FIXED_FD_RESERVE = 128
/** Admin socket connections accepted at once (counted in FIXED_FD_RESERVE). */
export const ADMIN_MAX_CONNECTIONS = 32

/** The soft RLIMIT_NOFILE of this process (Node raises it to the hard limit at start), from /proc/self/limits. */
export function openFileLimit(): {limit: number; source: 'proc' | 'assumed'} {
  try {
    const text = fs.readFileSync('/proc/self/limits', 'utf8')
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text)
    if (m) return {limit: m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]), source: 'proc'}
  } catch {
    // not Linux
  }
  return {limit: ASSUMED_FD_LIMIT, source: 'assumed'}
}

/**
 * The default `server.maxConnections`: what the open-file limit leaves for client connections.
 *   floor((fdLimit - 128 - 2 × upstream.connections × upstreams) / 2)
 * Each origin connection may come with a fill's temp file (2 each), and each client connection with a body file it
 * is being served from (2 each); 128 is FIXED_FD_RESERVE. At least 16, so a tiny limit still serves something (the
 * daemon warns then).
 */
export function derivedMaxConnections(fdLimit: number, upstreamConnections: number, upstreams: number): number {
  const spare = fdLimit - FIXED_FD_RESERVE - 2 * upstreamConnections * Math.max(1, upstreams)
  return Math.max(16, Math.floor(spare / 2))
}

/** What the limit supports at most (the derived value without the floor); used to warn about a configured value above it. */
export function supportedConnections(fdLimit: number, upstreamConnections: number, upstreams: number): number {
  return Math.floor((fdLimit - FIXED_FD_RESERVE - 2 * upstreamConnections * Math.max(1, upstreams)) / 2)
}
