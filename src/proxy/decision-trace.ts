import { createHash, timingSafeEqual } from 'node:crypto'
import type { UpstreamPool } from '../upstream/index.js'

/** Request header that asks for a decision trace; its value must be the admin token. */
export const DEBUG_HEADER = 'x-lb-debug'
/** Response header carrying the trace. */
export const DECISION_HEADER = 'x-lb-decision'

/** True when `presented` equals the admin token (constant time; an empty token never matches). */
export function isDebugAuthorized(presented: string, token: string | undefined): boolean {
  if (token === undefined || token === '' || presented === '') return false
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(presented), digest(token))
}

/**
 * Why the balancer chose what it chose for one request (the decision trace): the algorithm,
 * the endpoints it could not use and why (unhealthy, ejected, draining, circuit open, tried
 * already), and each try with its outcome. Built only for requests that present the admin token in
 * `x-lb-debug`, so it costs nothing on every other request.
 */
export class DecisionTrace {
  private algorithm = ''
  private skipped = ''
  private readonly tries: string[] = []

  /** Records the pool's view before the first pick. */
  observePool(pool: UpstreamPool): void {
    this.algorithm = pool.config.algorithm
    const skipped: string[] = []
    for (const e of pool.snapshot()) {
      const why: string[] = []
      if (!e.healthy) why.push('unhealthy')
      if (e.ejected) why.push('ejected')
      if (e.drained) why.push('draining')
      if (e.circuit === 'open') why.push('circuit-open')
      if (why.length > 0) skipped.push(`${e.id}(${why.join('+')})`)
    }
    this.skipped = skipped.join(',')
  }

  /** One try: the endpoint, the endpoints excluded because already tried, and how it ended. */
  addTry(endpoint: string, excluded: ReadonlySet<string> | undefined): number {
    const ex = excluded === undefined || excluded.size === 0 ? '' : ` excluding ${[...excluded].join(',')}`
    return this.tries.push(`${endpoint}${ex}`) - 1
  }

  /** Outcome of try `index`: a status or an error kind. */
  setOutcome(index: number, outcome: string): void {
    if (this.tries[index] !== undefined && !this.tries[index].includes('->')) this.tries[index] += ` -> ${outcome}`
  }

  /** The header value: `algorithm=p2c; skipped=a(unhealthy),b(draining); tries=c -> 503, d excluding c -> 200`. */
  toString(): string {
    return `algorithm=${this.algorithm}; skipped=${this.skipped === '' ? 'none' : this.skipped}; tries=${this.tries.length === 0 ? 'none' : this.tries.join(', ')}`
  }
}
