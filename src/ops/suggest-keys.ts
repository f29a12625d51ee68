/**
 * "Did you mean": stored keys close to one that matched nothing. The usual miss is the authority: a key holds the
 * Host the clients sent (`127.0.0.1:8080`), while the operator typed `127.0.0.1`, or https for http. So: the keys of
 * the same path and query under the same host name with any port and either scheme. A bounded key-range scan per
 * scheme (never the whole index), run only for keys that matched nothing.
 */
import type {OpsServices} from '../core/services.js'

/** Records looked at per scheme at most: a host with millions of keys gives no suggestion rather than a slow purge. */
const SCAN_LIMIT = 10_000
/** Suggestions per key. */
const MAX_SUGGESTIONS = 5

class ScanDone extends Error {}

/** `scheme://host[:port]/rest` → its parts, or undefined. */
function split(key: string): {scheme: string; hostname: string; rest: string} | undefined {
  const m = /^(https?):\/\/(\[[^\]]*\]|[^/:?#]*)(?::\d+)?(\/.*)?$/.exec(key)
  if (!m) return undefined
  return {scheme: m[1]!, hostname: m[2]!, rest: m[3] ?? '/'}
}

export async function closeKeys(o: Pick<OpsServices, 'storage'>, key: string): Promise<string[]> {
  const want = split(key)
  if (!want) return []
  const found = new Set<string>()
  for (const scheme of ['http', 'https']) {
    let seen = 0
    try {
      await o.storage.forEach(`${scheme}://${want.hostname}`, (rec) => {
        if (++seen > SCAN_LIMIT || found.size >= MAX_SUGGESTIONS) throw new ScanDone()
        if (rec.key === key) return
        const got = split(rec.key)
        if (got && got.hostname === want.hostname && got.rest === want.rest) found.add(rec.key)
      })
    } catch (error) {
      if (!(error instanceof ScanDone)) throw error
    }
  }
  return [...found]
}
