import type { EndpointChange, PrimaryMessage } from './ipc.js'

interface Facts {
  pool: string
  id: string
  healthy?: boolean
  drained?: boolean
  weight?: number
  /** Wall-clock ms when a passive ejection ends (the primary's own clock). */
  ejectedUntil?: number
}

/**
 * The primary's record of the endpoint facts every worker must share (active health, operator
 * drain and weight, passive ejections), so that a worker started later (a replacement) begins
 * with the same view as the others instead of the configuration's defaults.
 */
export class EndpointRegistry {
  private readonly facts = new Map<string, Facts>()

  /** Records one change. */
  apply(pool: string, id: string, change: EndpointChange): void {
    const key = `${pool}\u0000${id}`
    let f = this.facts.get(key)
    if (f === undefined) {
      f = { pool, id }
      this.facts.set(key, f)
    }
    if ('healthy' in change) {
      f.healthy = change.healthy
      if (change.healthy) delete f.ejectedUntil // workers end the ejection too (UpstreamPool.setHealthy)
    }
    else if ('drained' in change) f.drained = change.drained
    else if ('weight' in change) f.weight = change.weight
    else if ('ejected' in change) {
      if (change.ejected) f.ejectedUntil = Date.now() + (change.durationMs ?? 0)
      else delete f.ejectedUntil
    }
  }

  /** Forgets an endpoint (removed from its pool). */
  forget(pool: string, id: string): void {
    this.facts.delete(`${pool}\u0000${id}`)
  }

  /** Current facts of one endpoint, if any were recorded. */
  get(pool: string, id: string): Readonly<Facts> | undefined {
    return this.facts.get(`${pool}\u0000${id}`)
  }

  /** The messages that bring a new worker up to date. */
  replay(): PrimaryMessage[] {
    const out: PrimaryMessage[] = []
    const now = Date.now()
    for (const f of this.facts.values()) {
      const send = (change: EndpointChange): number => out.push({ type: 'lb:endpoint', pool: f.pool, id: f.id, change })
      if (f.healthy !== undefined) send({ healthy: f.healthy })
      if (f.drained !== undefined) send({ drained: f.drained })
      if (f.weight !== undefined) send({ weight: f.weight })
      if (f.ejectedUntil !== undefined && f.ejectedUntil > now) send({ ejected: true, durationMs: f.ejectedUntil - now })
    }
    return out
  }
}
