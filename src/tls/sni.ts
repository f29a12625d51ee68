/**
 * Server name → certificate: exact names first, then the wildcard for the name's parent domain (`*.example.com` for
 * `a.example.com`, one label only), else the listener's default certificate. Built once per certificate set; a
 * lookup is two Map probes.
 */
import {normalizeServerName} from './cert-names.js'

export interface SniEntry<T> {
  /** Normalised names (exact, or `*.parent`). */
  names: readonly string[]
  value: T
}

export class SniTable<T> {
  private readonly exact = new Map<string, T>()
  /** Keyed by the parent domain of the wildcard (`example.com` for `*.example.com`). */
  private readonly wildcard = new Map<string, T>()
  /** Names claimed by more than one entry: the first one keeps them. */
  readonly shadowed: Array<{name: string; kept: number; ignored: number}> = []

  constructor(
    entries: ReadonlyArray<SniEntry<T>>,
    readonly fallback: T,
  ) {
    const owner = new Map<string, number>()
    entries.forEach((e, i) => {
      for (const name of e.names) {
        const first = owner.get(name)
        if (first !== undefined) {
          if (first !== i) this.shadowed.push({name, kept: first, ignored: i})
          continue
        }
        owner.set(name, i)
        if (name.startsWith('*.')) this.wildcard.set(name.slice(2), e.value)
        else this.exact.set(name, e.value)
      }
    })
  }

  /** The entry for a server name as a client sent it (any case, maybe a trailing dot); the fallback when none. */
  resolve(serverName: string | undefined | null): T {
    const n = normalizeServerName(serverName)
    if (n === undefined) return this.fallback
    const hit = this.exact.get(n)
    if (hit !== undefined) return hit
    const dot = n.indexOf('.')
    if (dot > 0) {
      const w = this.wildcard.get(n.slice(dot + 1))
      if (w !== undefined) return w
    }
    return this.fallback
  }

  /** Whether some entry (not the fallback) serves this name. */
  has(serverName: string): boolean {
    const n = normalizeServerName(serverName)
    if (n === undefined) return false
    if (this.exact.has(n)) return true
    const dot = n.indexOf('.')
    return dot > 0 && this.wildcard.has(n.slice(dot + 1))
  }
}
