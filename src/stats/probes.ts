import type {StorageProbeResult, UpstreamProbeResult} from './schema.js'

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Gauges read from their owners when a snapshot or a scrape asks (storage usage, upstream health). */
export class Probes {
  private storage: (() => StorageProbeResult) | undefined
  private upstreams: (() => UpstreamProbeResult[]) | undefined

  setStorage(fn: () => StorageProbeResult): void {
    this.storage = fn
  }

  setUpstreams(fn: () => UpstreamProbeResult[]): void {
    this.upstreams = fn
  }

  /** Calls the probes; a throwing probe is reported in `errors` rather than breaking the caller. */
  read(): {storage: StorageProbeResult | null; upstreams: UpstreamProbeResult[]; errors: string[]} {
    const errors: string[] = []
    let storage: StorageProbeResult | null = null
    let upstreams: UpstreamProbeResult[] = []
    if (this.storage) {
      try {
        storage = {...this.storage()}
      } catch (error) {
        errors.push(`storage probe: ${errorMessage(error)}`)
      }
    }
    if (this.upstreams) {
      try {
        upstreams = this.upstreams().map((u) => ({...u}))
      } catch (error) {
        errors.push(`upstream probe: ${errorMessage(error)}`)
      }
    }
    return {storage, upstreams, errors}
  }
}
