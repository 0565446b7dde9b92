/**
 * Public surface of `balancer/`: load-balancing algorithms as synchronous data structures over the
 * ready endpoints of a pool. Import from here, not from the files.
 */
export {
  ALGORITHMS,
  balancerFactories,
  createBalancer,
  ConsistentHashBalancer,
  EwmaBalancer,
  LeastConnectionsBalancer,
  P2cBalancer,
  RandomBalancer,
  RoundRobinBalancer,
  WeightedRoundRobinBalancer,
  type AlgorithmId,
  type Balancer,
  type BalancerFactory,
  type BalancerOptions,
  type Endpoint,
  type EndpointLoad,
  type PickContext,
} from './balancer.js'
export { DEFAULT_HASH_LOAD_FACTOR, MAX_RING_POINTS, POINTS_PER_MIN_WEIGHT, type ConsistentHashOptions } from './consistent-hash.js'
export { EWMA_FLOOR_MS } from './ewma.js'
export { hash32 } from './hash.js'
