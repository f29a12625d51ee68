/**
 * Why a key is not in the cache, as last decided on the request path: the storability verdict (no-store, private,
 * Set-Cookie, status, Vary: *…), a failed fetch, or a bypass (the request was not eligible). `inspect-key` reads it
 * for a URL that is not cached. A bounded map (oldest dropped first): memory stays fixed whatever the key count.
 */

export const NOT_STORED_MAX = 10_000

export type NotStoredKind = 'not-storable' | 'fetch-failed' | 'bypassed'

export interface NotStoredEntry {
  kind: NotStoredKind
  /** The reason as the decision put it (the Cache-Status detail). */
  reason: string
  /** Status of the origin's answer, when there was one. */
  status?: number
  /** ms epoch. */
  at: number
}

export class NotStoredMemory {
  private readonly map = new Map<string, NotStoredEntry>()

  record(key: string, e: NotStoredEntry): void {
    // Re-inserted so the Map's order is last-decided-first-kept.
    this.map.delete(key)
    if (this.map.size >= NOT_STORED_MAX) this.map.delete(this.map.keys().next().value!)
    this.map.set(key, e)
  }

  /** A later store makes the old reason moot. */
  forget(key: string): void {
    this.map.delete(key)
  }

  get(key: string): NotStoredEntry | undefined {
    return this.map.get(key)
  }
}
