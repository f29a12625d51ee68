import {type Balancer, candidates, type MemberState, type PickRequest} from './types.js'

/**
 * nginx's smooth weighted round-robin: each pick adds every candidate's weight to its counter, takes the highest and
 * lowers it by the total. Weights 5,1,1 give a a b a c a a rather than a a a a a b c. Members that are unavailable or
 * excluded sit the round out (their counters are left alone).
 */
export class SmoothRoundRobin {
  private readonly current = new Map<string, number>()

  choose<M extends MemberState>(among: readonly M[]): M | undefined {
    if (among.length <= 1) return among[0]
    let total = 0
    let best: M | undefined
    let bestCurrent = Number.NEGATIVE_INFINITY
    for (const m of among) {
      const c = (this.current.get(m.name) ?? 0) + m.weight
      this.current.set(m.name, c)
      total += m.weight
      if (c > bestCurrent) {
        best = m
        bestCurrent = c
      }
    }
    this.current.set(best!.name, bestCurrent - total)
    // Forget members that left the group, so a long-lived balancer does not grow with reloads.
    if (this.current.size > 4 * among.length + 16) this.prune(among)
    return best
  }

  private prune(among: readonly MemberState[]): void {
    const keep = new Set(among.map((m) => m.name))
    for (const name of this.current.keys()) if (!keep.has(name)) this.current.delete(name)
  }
}

export class RoundRobinBalancer implements Balancer {
  readonly algorithm = 'round-robin'
  private readonly rr = new SmoothRoundRobin()

  pick<M extends MemberState>(members: readonly M[], req: PickRequest = {}): M | undefined {
    return this.rr.choose(candidates(members, req.exclude))
  }
}
