import {weightedDraw} from './random.js'
import {type Balancer, candidates, type MemberState, type PickRequest, type RandomSource} from './types.js'

/**
 * Power of two choices on latency (Finagle/Linkerd/Envoy "least request" with P2C): draw two distinct members by
 * weight and send to the one with the lower `ewma × (inFlight + 1)` — the expected wait of a new request there.
 * Sampling two instead of scanning all keeps a stale estimate from sending every request to one member.
 */
export class P2cEwmaBalancer implements Balancer {
  readonly algorithm = 'p2c-ewma'

  constructor(private readonly random: RandomSource = Math.random) {}

  pick<M extends MemberState>(members: readonly M[], req: PickRequest = {}): M | undefined {
    const among = candidates(members, req.exclude)
    if (among.length <= 1) return among[0]
    let total = 0
    for (const m of among) total += m.weight
    const a = weightedDraw(among, this.random, total)!
    const rest = among.filter((m) => m !== a)
    const b = weightedDraw(rest, this.random, total - a.weight)!
    return cost(b) < cost(a) ? b : a
  }
}

function cost(m: MemberState): number {
  return m.ewmaMs * (m.inFlight + 1)
}
