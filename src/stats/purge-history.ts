/**
 * The recent purges (like Varnish's ban.list): what was purged, when, from where, in which mode, and what it matched.
 * A fixed-size ring: the newest RECENT_PURGES are kept, older ones drop off. Recording is one array write.
 */

/** Purges kept. */
export const RECENT_PURGES = 200

export interface PurgeHistoryEntry {
  /** ms epoch. */
  at: number
  /** `admin`: POST /purge (`tavern purge`); `PURGE`: the data-plane method. */
  source: 'admin' | 'PURGE'
  /** The client address of a data-plane PURGE. */
  peer?: string
  mode: 'delete' | 'expire'
  /** What was named: single URLs, a directory, or both. */
  scope: 'url' | 'urls' | 'dir' | 'urls+dir'
  /** The key (one URL), the first key and how many (several), or the key prefix of the directory. */
  target: string
  urls: number
  matched: number
  /** Deleted (delete) or marked expired (expire). */
  purged: number
  bytesFreed: number
}

export class PurgeHistory {
  private readonly ring: Array<PurgeHistoryEntry | undefined> = new Array(RECENT_PURGES)
  private next = 0
  private total = 0

  record(e: PurgeHistoryEntry): void {
    this.ring[this.next] = e
    this.next = (this.next + 1) % RECENT_PURGES
    this.total++
  }

  /** Newest first; `recorded` counts every purge since start (the list holds the last RECENT_PURGES). */
  list(): {recorded: number; kept: number; purges: PurgeHistoryEntry[]} {
    const out: PurgeHistoryEntry[] = []
    for (let i = 1; i <= RECENT_PURGES; i++) {
      const e = this.ring[(this.next - i + RECENT_PURGES) % RECENT_PURGES]
      if (e === undefined) break
      out.push(e)
    }
    return {recorded: this.total, kept: RECENT_PURGES, purges: out}
  }
}
