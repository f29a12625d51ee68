import {createHash} from 'node:crypto'

/** Separator between cache key and variant in the index key. Never appears in a normalized URL. */
export const SEP = '\u0000'

export function indexKey(cacheKey: string, variant: string): string {
  return cacheKey + SEP + variant
}

export function splitIndexKey(ik: string): {cacheKey: string; variant: string} {
  const i = ik.indexOf(SEP)
  return i < 0 ? {cacheKey: ik, variant: ''} : {cacheKey: ik.slice(0, i), variant: ik.slice(i + 1)}
}

/** Relative body file name for a fill: `aa/bb/<sha1 of index key>-<unique suffix>`. */
export function bodyFileName(ik: string, suffix: string): string {
  const h = createHash('sha1').update(ik).digest('hex')
  return `${h.slice(0, 2)}/${h.slice(2, 4)}/${h}-${suffix}`
}

/** Coarse LRU bucket (minutes since epoch) of an access time in ms. */
export function lruBucket(ms: number): number {
  return Math.floor(ms / 60_000)
}

/** Binary LRU key: 6-byte big-endian bucket followed by the UTF-8 index key (sorts by bucket first). */
export function lruKey(bucket: number, ik: string): Buffer {
  const k = Buffer.allocUnsafe(6 + Buffer.byteLength(ik))
  k.writeUIntBE(Math.max(0, bucket), 0, 6)
  k.write(ik, 6, 'utf8')
  return k
}

export function parseLruKey(k: Buffer): {bucket: number; ik: string} {
  return {bucket: k.readUIntBE(0, 6), ik: k.toString('utf8', 6)}
}
