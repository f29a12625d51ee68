import {type Balancer, candidates, type MemberState, type PickRequest, type RandomSource} from './types.js'

/** One member drawn with probability weight / total weight. */
export function weightedDraw<M extends MemberState>(among: readonly M[], random: RandomSource, total?: number): M | undefined {
  if (among.length <= 1) return among[0]
  let sum = total ?? 0
  if (total === undefined) for (const m of among) sum += m.weight
  let r = random() * sum
  for (const m of among) {
    r -= m.weight
    if (r < 0) return m
  }
  return among[among.length - 1] // r landed on the upper edge through rounding
}

export class RandomBalancer implements Balancer {
  readonly algorithm = 'random'

  constructor(private readonly random: RandomSource = Math.random) {}

  pick<M extends MemberState>(members: readonly M[], req: PickRequest = {}): M | undefined {
    return weightedDraw(candidates(members, req.exclude), this.random)
  }
}
