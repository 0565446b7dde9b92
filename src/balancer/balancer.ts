/**
 * The balancer interface (re-exported from `core/`) and the registry that maps each configured
 * algorithm id to its implementation. `upstream/` builds balancers only through {@link createBalancer};
 * `balancer.test.ts` runs the conformance suite over every entry, so a new algorithm cannot skip it.
 */
import type { AlgorithmId, Balancer, BalancerFactory, EndpointLoad } from '../core/index.js'
import { LbError } from '../core/index.js'
import { ConsistentHashBalancer } from './consistent-hash.js'
import { EwmaBalancer } from './ewma.js'
import { LeastConnectionsBalancer } from './least-connections.js'
import { P2cBalancer } from './p2c.js'
import { RandomBalancer } from './random.js'
import { RoundRobinBalancer } from './round-robin.js'
import { WeightedRoundRobinBalancer } from './weighted-round-robin.js'

export type { AlgorithmId, Balancer, BalancerFactory, Endpoint, EndpointLoad, PickContext } from '../core/index.js'
export { ALGORITHMS } from '../core/index.js'

/** Tuning shared by all algorithms; each reads only what concerns it. */
export interface BalancerOptions {
  /** `consistent-hash` bound factor c >= 1 (default 1.25, `Infinity` = unbounded). Ignored by the others. */
  hashLoadFactor?: number | undefined
  /**
   * `round-robin` only: a shared sequence (global round robin across workers and instances). Each
   * number `s` picks `ready[s % n]`; undefined (no number at hand) falls back to local rotation.
   */
  sequence?: (() => number | undefined) | undefined
}

/**
 * One entry per algorithm id: given the options, a {@link BalancerFactory}. The record type makes the
 * compiler demand an entry for every id of `ALGORITHMS`.
 */
export const balancerFactories: Record<AlgorithmId, (options?: BalancerOptions) => BalancerFactory> = {
  'round-robin': (options) => () => new RoundRobinBalancer(options?.sequence),
  'weighted-round-robin': () => () => new WeightedRoundRobinBalancer(),
  'least-connections': () => (load, random) => new LeastConnectionsBalancer(load, random),
  p2c: () => (load, random) => new P2cBalancer(load, random),
  ewma: () => (load, random) => new EwmaBalancer(load, random),
  'consistent-hash': (options) => (load, random) =>
    new ConsistentHashBalancer(load, random, { hashLoadFactor: options?.hashLoadFactor }),
  random: () => (_load, random) => new RandomBalancer(random),
}

/**
 * Builds an empty balancer for `algorithm` (call `reset()` with the ready set before picking; until
 * then every pick returns undefined).
 * @param load the load signals (in-flight requests, EWMA latency in ms) the algorithm may read.
 * @param random float in [0, 1); inject a seeded one in tests.
 * @throws LbError `LB_ERR_CONFIG` for an unknown algorithm id or an invalid option (configuration bugs).
 */
export function createBalancer(
  algorithm: AlgorithmId,
  load: EndpointLoad,
  random: () => number,
  options?: BalancerOptions,
): Balancer {
  const factory = Object.hasOwn(balancerFactories, algorithm) ? balancerFactories[algorithm] : undefined
  if (factory === undefined) throw new LbError('LB_ERR_CONFIG', `algorithm: unknown balancing algorithm '${String(algorithm)}'`)
  return factory(options)(load, random)
}

export { ConsistentHashBalancer } from './consistent-hash.js'
export { EwmaBalancer } from './ewma.js'
export { LeastConnectionsBalancer } from './least-connections.js'
export { P2cBalancer } from './p2c.js'
export { RandomBalancer } from './random.js'
export { RoundRobinBalancer } from './round-robin.js'
export { WeightedRoundRobinBalancer } from './weighted-round-robin.js'
