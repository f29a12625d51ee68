import type {Database} from 'lmdb'

/** A key of a scanned database: a stored-key string (utf8KeyEncoder) or a binary key (the lru db). */
export type ScanKey = string | Buffer

export interface ScanOptions<K extends ScanKey, V> {
  /** The range: keys starting with this ('' or an empty Buffer: the whole database). */
  prefix: K
  /** Resume strictly after this key (a previous page's `next`). */
  after?: K
  /** Keys looked at per page (matching or not), so one page is bounded work. */
  limit: number
  /** Keep only entries for which this holds (e.g. the record's full key really has the prefix). */
  match?: (value: V, key: K) => boolean
}

export interface ScanPage<K extends ScanKey, V> {
  entries: Array<{key: K; value: V}>
  /** Resume key for the next page; undefined when the range is exhausted. */
  next: K | undefined
}

function startsWith<K extends ScanKey>(key: K, prefix: K): boolean {
  if (typeof key === 'string') {
    if (typeof prefix !== 'string') throw new TypeError('scan: string key with a binary prefix')
    return key.startsWith(prefix)
  }
  if (!Buffer.isBuffer(key) || !Buffer.isBuffer(prefix)) throw new TypeError(`scan: unexpected key type ${typeof key}`)
  return key.length >= prefix.length && key.compare(prefix, 0, prefix.length, 0, prefix.length) === 0
}

function isEmpty(k: ScanKey): boolean {
  return k.length === 0
}

/**
 * One page of a key-ordered range scan: at most `limit` keys of the range after `after`. The one paged scan of the
 * store (purges, forEach, variants, partials, GC, eviction); callers loop on `next`, yielding between pages when
 * the scan is long. Works inside a write transaction (it then sees the transaction's own writes).
 */
export function scanPage<K extends ScanKey, V>(db: Database<V, K>, o: ScanOptions<K, V>): ScanPage<K, V> {
  const entries: Array<{key: K; value: V}> = []
  const start = o.after ?? o.prefix
  // An empty start means "from the first key" (lmdb-js's implicit start would skip keys below 0x05).
  const range = o.after !== undefined ? {start, exclusiveStart: true, limit: o.limit} : {start, limit: o.limit}
  let seen = 0
  let last: K | undefined
  for (const e of db.getRange(range)) {
    const key = e.key as K
    if (!isEmpty(o.prefix) && !startsWith(key, o.prefix)) return {entries, next: undefined}
    seen++
    last = key
    if (!o.match || o.match(e.value, key)) entries.push({key, value: e.value})
  }
  return {entries, next: seen === o.limit ? last : undefined}
}

/** Every entry of a range, in pages of `limit` (synchronous: for small ranges such as the variants of one URL). */
export function scanAll<K extends ScanKey, V>(db: Database<V, K>, o: Omit<ScanOptions<K, V>, 'after'>): Array<{key: K; value: V}> {
  const out: Array<{key: K; value: V}> = []
  let after: K | undefined
  do {
    const page = scanPage(db, {...o, after})
    for (const e of page.entries) out.push(e)
    after = page.next
  } while (after !== undefined)
  return out
}
