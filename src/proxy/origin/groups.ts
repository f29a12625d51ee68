/**
 * The upstream groups of a config: `default` (the top-level `upstreams` with `upstream`) and one per
 * `upstreamGroups` entry (its own `upstreams`, and `upstream` with the group's keys over the top-level values).
 * Built together and replaced together on reload; the daemon keeps a replaced set until its requests are done.
 */
import type {TavernConfig} from '../../config/schema.js'
import type {UpstreamHealth} from '../../core/origin.js'
import type {UpstreamGroup, UpstreamTarget} from './upstream.js'

/** How one group is made from its members and a config whose `upstream` section is the group's (the daemon's factory). */
export type GroupFactory = (targets: readonly UpstreamTarget[], c: TavernConfig, name: string) => UpstreamGroup

export interface GroupHealth {
  group: string
  upstreams: UpstreamHealth[]
}

export class UpstreamGroups {
  private constructor(
    readonly main: UpstreamGroup,
    readonly named: ReadonlyMap<string, UpstreamGroup>,
  ) {}

  static build(c: TavernConfig, make: GroupFactory): UpstreamGroups {
    const main = make(c.upstreams, c, 'default')
    const named = new Map<string, UpstreamGroup>()
    for (const [name, g] of Object.entries(c.upstreamGroups)) {
      named.set(name, make(g.upstreams, {...c, upstream: {...c.upstream, ...(g.upstream as Partial<TavernConfig['upstream']>)}}, name))
    }
    return new UpstreamGroups(main, named)
  }

  get(name: string): UpstreamGroup | undefined {
    return name === 'default' ? this.main : this.named.get(name)
  }

  /** Every group, the default first. */
  all(): UpstreamGroup[] {
    return [this.main, ...this.named.values()]
  }

  health(): GroupHealth[] {
    return [{group: 'default', upstreams: this.main.health()}, ...[...this.named].map(([group, g]) => ({group, upstreams: g.health()}))]
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((g) => g.close()))
  }
}
