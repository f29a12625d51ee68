/**
 * Objects whose origin failed while they were being revalidated and that are served from grace: until one
 * revalidation succeeds, requests for them get the stale copy at once and at most one revalidation attempt per object
 * runs at a time (no more often than GRACE_RETRY_MS), so a failing origin is not queued on by every client.
 */

/** Least time between two revalidation attempts of one object while it is in grace. */
export const GRACE_RETRY_MS = 1000
const MAX_ENTRIES = 100_000

export class GraceMemory {
  /** object key → when its last revalidation attempt started (ms epoch). */
  private readonly since = new Map<string, number>()

  inGrace(objectKey: string): boolean {
    return this.since.size > 0 && this.since.has(objectKey)
  }

  /** The origin failed for this object and its stale copy was served. */
  enter(objectKey: string, now: number): void {
    if (this.since.has(objectKey)) return
    // Bounded: the oldest entries go first (they are the likeliest to be gone from storage).
    if (this.since.size >= MAX_ENTRIES) this.since.delete(this.since.keys().next().value!)
    this.since.set(objectKey, now)
  }

  /** Whether a new revalidation attempt may start now (and mark it started). */
  attemptDue(objectKey: string, now: number): boolean {
    const last = this.since.get(objectKey)
    if (last === undefined || now - last < GRACE_RETRY_MS) return false
    this.since.set(objectKey, now)
    return true
  }

  /** A revalidation or fill of the object succeeded: it leaves grace. */
  leave(objectKey: string): void {
    if (this.since.size > 0) this.since.delete(objectKey)
  }

  get size(): number {
    return this.since.size
  }
}
