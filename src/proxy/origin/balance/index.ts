import {ConsistentHashBalancer} from './consistent-hash.js'
import {LeastConnectionsBalancer} from './least-connections.js'
import {P2cEwmaBalancer} from './p2c-ewma.js'
import {RandomBalancer} from './random.js'
import {RoundRobinBalancer} from './round-robin.js'
import type {BalanceAlgorithm, Balancer, RandomSource} from './types.js'

export {balanceKey, cookieValue, type HashKeySource} from './consistent-hash.js'
export {PeakEwma, type PeakEwmaOptions} from './ewma.js'
export {candidates, type BalanceAlgorithm, type Balancer, type MemberState, type PickRequest, type RandomSource} from './types.js'

export interface BalancerOptions {
  random?: RandomSource
  /** consistent-hash: ring points per unit of weight. */
  vnodes?: number
}

export function createBalancer(algorithm: BalanceAlgorithm, opts: BalancerOptions = {}): Balancer {
  switch (algorithm) {
    case 'round-robin':
      return new RoundRobinBalancer()
    case 'random':
      return new RandomBalancer(opts.random)
    case 'least-connections':
      return new LeastConnectionsBalancer()
    case 'p2c-ewma':
      return new P2cEwmaBalancer(opts.random)
    case 'consistent-hash':
      return new ConsistentHashBalancer({vnodes: opts.vnodes})
  }
}
