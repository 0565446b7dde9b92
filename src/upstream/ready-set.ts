import type { Endpoint } from '../core/index.js'
import type { PoolConfig } from '../config/index.js'
import { isReady, type EndpointState } from './endpoint-state.js'
import { slowStartWeight } from './slow-start.js'

/** What the balancers of one pool get after a change. */
export interface ReadySets {
  primaries: Endpoint[]
  backups: Endpoint[]
  /** Some endpoint is still ramping up (slow start): rebuild again soon. */
  ramping: boolean
  /** Panic mode: too few primaries were ready, so all non-drained ones are used. */
  panic: boolean
}

/**
 * Computes the ready sets of a pool:
 * - only ready endpoints (healthy, not ejected, not drained, circuit closed);
 * - slow start: an endpoint that became ready within `slowStartMs` gets a weight ramped from 10 %;
 * - panic threshold (Envoy): when fewer than `panicThresholdPercent` of the primaries are ready,
 *   balance over every primary that is not drained, since concentrating all traffic on the few
 *   survivors would overload them too;
 * - backups are offered only while no primary is ready.
 */
export function computeReadySets(states: Iterable<EndpointState>, config: PoolConfig, now: number): ReadySets {
  const primaries: Endpoint[] = []
  const backups: Endpoint[] = []
  const allPrimaries: Endpoint[] = []
  let ramping = false
  for (const s of states) {
    const ready = isReady(s)
    if (ready && !s.wasReady && config.slowStartMs > 0 && s.readySince !== -Infinity) s.readySince = now
    if (!ready && s.wasReady) s.readySince = 0 // next time it becomes ready it ramps
    s.wasReady = ready
    if (!s.endpoint.backup && !s.drained) allPrimaries.push(s.endpoint)
    if (!ready) continue
    let endpoint = s.endpoint
    const elapsed = now - s.readySince
    if (config.slowStartMs > 0 && elapsed < config.slowStartMs) {
      endpoint = { ...endpoint, weight: slowStartWeight(endpoint.weight, elapsed, config.slowStartMs) }
      ramping = true
    }
    if (endpoint.backup) backups.push(endpoint)
    else primaries.push(endpoint)
  }
  const panic =
    config.panicThresholdPercent > 0 &&
    allPrimaries.length > 0 &&
    (primaries.length / allPrimaries.length) * 100 < config.panicThresholdPercent
  return {
    primaries: panic ? allPrimaries : primaries,
    backups: panic || primaries.length > 0 ? [] : backups,
    ramping,
    panic,
  }
}
