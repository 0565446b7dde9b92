import type { PoolConfig } from '../config/index.js'
import type { EndpointSnapshot } from '../upstream/index.js'
import type { EndpointRegistry } from './endpoint-registry.js'

/**
 * One endpoint as the primary sees it (admin API, dashboard): a worker's snapshot without the
 * per-worker load figures (in-flight requests, latency), which the metrics carry instead.
 */
export type EndpointView = Omit<EndpointSnapshot, 'inFlight' | 'ewmaMs'>

/** One pool as the primary sees it. */
export interface PoolView {
  name: string
  algorithm: string
  endpoints: EndpointView[]
}

/**
 * The view of a pool from the primary's records: shared facts (health, ejection, drain, weight) over
 * the configured values, and the circuit states the workers reported (`pool\0id`).
 */
export function poolView(p: PoolConfig, registry: EndpointRegistry, circuits: ReadonlyMap<string, EndpointView['circuit']>): PoolView {
  return {
    name: p.name,
    algorithm: p.algorithm,
    endpoints: p.backends.map((b) => {
      const f = registry.get(p.name, b.id)
      const healthy = f?.healthy ?? true
      const ejected = f?.ejectedUntil !== undefined && f.ejectedUntil > Date.now()
      const drained = f?.drained ?? b.drained
      const circuit = circuits.get(`${p.name}\u0000${b.id}`) ?? 'closed'
      return {
        id: b.id,
        url: b.url,
        weight: f?.weight ?? b.weight,
        backup: b.backup,
        healthy,
        ejected,
        drained,
        circuit,
        ready: healthy && !ejected && !drained && circuit !== 'open',
      }
    }),
  }
}
