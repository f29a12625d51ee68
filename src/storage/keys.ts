import {createHash} from 'node:crypto'

/**
 * Keys of the LMDB index.
 *
 * A *stored key* is the string under which a record lives in LMDB (`objects`, `partials`; `vary` uses the URL part
 * alone). It is written to LMDB as its plain UTF-8 bytes (utf8KeyEncoder), so it round-trips exactly and sorts by
 * code point. Layout: `part(cacheKey) NUL part(variant)`, where a part is the string itself when it is "plain"
 * (no NUL, no U+FFFF, well-formed UTF-16, short enough), else a plain prefix of it, U+FFFF and a hash of the whole:
 *
 * - the NUL separator sorts below every other character, so all variants of one URL are one contiguous range and
 *   never interleave with a longer URL sharing the prefix;
 * - every cache key starting with a prefix P has a stored key starting with plainPrefix(P) (a directory purge is one
 *   range), and when P itself is plain the range holds exactly those keys;
 * - LMDB's key limit (1978 bytes in lmdb-js 3.5.6) is never reached: a stored key is at most MAX_STORED_KEY_BYTES.
 *
 * A hashed key cannot be decoded; records hold their full key and variant, and every lookup compares them.
 */

/** Separator between cache key and variant. Never part of a stored key's URL part (see part()). */
export const SEP = '\u0000'
/** Marks a part that was shortened and hashed. Never appears in a plain part. */
export const HASH_MARK = '\uFFFF'

/** A cache key of at most this many UTF-8 bytes is stored as is; longer ones keep this many bytes plus a hash. */
export const KEY_PLAIN_MAX_BYTES = 1024
/** A variant selector of at most this many UTF-8 bytes is stored as is; longer ones are replaced by a hash. */
export const VARIANT_PLAIN_MAX_BYTES = 512
const HASH_CHARS = 32
/** Longest stored key in UTF-8 bytes: hashed URL part + NUL + longest plain variant part. */
export const MAX_STORED_KEY_BYTES = KEY_PLAIN_MAX_BYTES + 3 + HASH_CHARS + 1 + VARIANT_PLAIN_MAX_BYTES

const WELL_FORMED = (s: string) => (s as unknown as {isWellFormed(): boolean}).isWellFormed()

/** Whether `s` is stored as is (no NUL, no U+FFFF, no lone surrogate, at most `maxBytes` UTF-8 bytes). */
function isPlain(s: string, maxBytes: number): boolean {
  if (s.length * 3 > maxBytes && Buffer.byteLength(s) > maxBytes) return false
  return s.indexOf(SEP) < 0 && s.indexOf(HASH_MARK) < 0 && WELL_FORMED(s)
}

function hashOf(s: string): string {
  // UTF-16 code units, so that even strings with lone surrogates hash by identity.
  return createHash('sha256').update(s, 'utf16le').digest('hex').slice(0, HASH_CHARS)
}

/** The longest prefix of `s` that is plain and at most `maxBytes` UTF-8 bytes (cut at a character boundary). */
export function plainPrefix(s: string, maxBytes = KEY_PLAIN_MAX_BYTES): string {
  let bytes = 0
  let i = 0
  while (i < s.length) {
    const c = s.charCodeAt(i)
    let units = 1
    let n: number
    if (c === 0 || c === 0xffff) break
    if (c < 0x80) n = 1
    else if (c < 0x800) n = 2
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1)
      if (!(d >= 0xdc00 && d <= 0xdfff)) break
      n = 4
      units = 2
    } else if (c >= 0xdc00 && c <= 0xdfff) break
    else n = 3
    if (bytes + n > maxBytes) break
    bytes += n
    i += units
  }
  return s.slice(0, i)
}

// Hashing an 8 KB URL costs ~10 µs; hits on one long URL repeat, so remember recent ones (bounded, cleared when full).
const MEMO_MAX = 4096
const memo = new Map<string, string>()

/** The stored form of a cache key (the `vary` db key, and the first half of an object's stored key). */
export function storedUrlKey(cacheKey: string): string {
  if (isPlain(cacheKey, KEY_PLAIN_MAX_BYTES)) return cacheKey
  let k = memo.get(cacheKey)
  if (k === undefined) {
    k = plainPrefix(cacheKey) + HASH_MARK + hashOf(cacheKey)
    if (memo.size >= MEMO_MAX) memo.clear()
    memo.set(cacheKey, k)
  }
  return k
}

function storedVariant(variant: string): string {
  return isPlain(variant, VARIANT_PLAIN_MAX_BYTES) ? variant : HASH_MARK + hashOf(variant)
}

/** The LMDB key of one variant of one URL (objects and partials). */
export function storedKey(cacheKey: string, variant: string): string {
  return storedUrlKey(cacheKey) + SEP + (variant === '' ? '' : storedVariant(variant))
}

/** First stored key of the range holding every variant of `cacheKey` (each key of that range starts with it). */
export function variantRange(cacheKey: string): string {
  return storedUrlKey(cacheKey) + SEP
}

/**
 * The stored-key range of every cache key starting with `prefix`: keys starting with `start`. When `exact`, every
 * key of that range belongs to such a cache key; otherwise (a prefix longer than what stored keys keep, or not
 * plain) each record's full key must be checked.
 */
export function prefixRange(prefix: string): {start: string; exact: boolean} {
  const start = plainPrefix(prefix)
  return {start, exact: start.length === prefix.length}
}

/**
 * In-memory identity of one variant of one URL (pending touches, range-fill bookkeeping). Not an LMDB key.
 */
export function indexKey(cacheKey: string, variant: string): string {
  return cacheKey + SEP + variant
}

/**
 * LMDB key encoder: a key is a string written as its plain UTF-8 bytes (lmdb-js's default ordered-binary encoding
 * turns strings with NUL into arrays once they are long). Only well-formed strings round-trip, which every stored
 * key is. A Buffer (lmdb-js's own default range start) is written as is.
 */
export const utf8KeyEncoder = {
  writeKey(key: string | Uint8Array, target: Buffer, start: number): number {
    if (typeof key !== 'string') {
      if (!(key instanceof Uint8Array)) throw new TypeError(`storage keys are strings, not ${typeof key}`)
      if (start + key.length > target.length) throw new RangeError('key does not fit')
      target.set(key, start)
      return start + key.length
    }
    const n = target.write(key, start, 'utf8')
    // Buffer.write stops short (never mid-character) when the target is too small: lmdb-js retries on RangeError.
    if (start + n >= target.length - 3 && n !== Buffer.byteLength(key)) throw new RangeError('key does not fit')
    return start + n
  },
  readKey(buf: Buffer, start: number, end: number): string {
    return buf.toString('utf8', start, end)
  },
}

/** Relative body file name for a fill: `aa/bb/<sha1 of the key>-<unique suffix>`. */
export function bodyFileName(ik: string, suffix: string): string {
  const h = createHash('sha1').update(ik, 'utf16le').digest('hex')
  return `${h.slice(0, 2)}/${h.slice(2, 4)}/${h}-${suffix}`
}

/** Coarse LRU bucket (minutes since epoch) of an access time in ms. */
export function lruBucket(ms: number): number {
  return Math.floor(ms / 60_000)
}

/** Binary LRU key: 6-byte big-endian bucket followed by the UTF-8 stored key (sorts by bucket first). */
export function lruKey(bucket: number, sk: string): Buffer {
  const k = Buffer.allocUnsafe(6 + Buffer.byteLength(sk))
  k.writeUIntBE(Math.max(0, bucket), 0, 6)
  k.write(sk, 6, 'utf8')
  return k
}

export function parseLruKey(k: Buffer): {bucket: number; sk: string} {
  return {bucket: k.readUIntBE(0, 6), sk: k.toString('utf8', 6)}
}
