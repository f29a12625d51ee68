import {SmoothRoundRobin} from './round-robin.js'
import {type Balancer, candidates, type MemberState, type PickRequest} from './types.js'

/**
 * nginx `least_conn`: the member with the fewest requests in flight per unit of weight; members that tie share the
 * pick by smooth weighted round-robin, so an idle group is still spread evenly.
 */
export class LeastConnectionsBalancer implements Balancer {
  readonly algorithm = 'least-connections'
  private readonly rr = new SmoothRoundRobin()

  pick<M extends MemberState>(members: readonly M[], req: PickRequest = {}): M | undefined {
    const among = candidates(members, req.exclude)
    if (among.length <= 1) return among[0]
    let tied: M[] = []
    let best = Number.POSITIVE_INFINITY
    for (const m of among) {
      const load = m.inFlight / m.weight
      if (load < best) {
        best = load
        tied = [m]
      } else if (load === best) tied.push(m)
    }
    return tied.length === 1 ? tied[0] : this.rr.choose(tied)
  }
}
