/**
 * Every config key the e2e tests depend on lives here, so a rename in src/config/schema.ts is a one-place fix.
 * Tests use the defaults unless they really need something else.
 */

/** Make the upstream give up waiting for response headers after `ms` (→ 504). */
export function upstreamHeadersTimeout(ms: number): Record<string, unknown> {
  return {upstream: {headersTimeout: `${ms}ms`}}
}

/** A small disk budget with frequent eviction passes. */
export function smallDisk(maxDiskBytes: number): Record<string, unknown> {
  return {storage: {maxDiskBytes, evictionInterval: '200ms'}}
}

/** Graceful shutdown budget. */
export function shutdownTimeout(ms: number): Record<string, unknown> {
  return {server: {shutdownTimeout: `${ms}ms`}}
}

/** Deep-merge config fragments. */
export function mergeConfig(...parts: Array<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const p of parts) {
    for (const [k, v] of Object.entries(p)) {
      const cur = out[k]
      out[k] =
        v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
          ? mergeConfig(cur as Record<string, unknown>, v as Record<string, unknown>)
          : v
    }
  }
  return out
}
