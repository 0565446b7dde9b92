import type { PoolConfig } from '../config/index.js'
import { isIdempotentMethod } from './headers.js'
import type { AttemptFailure } from './attempt.js'

/** A retry budget: grants a retry or refuses it (budget spent). */
export interface RetryGate {
  tryAcquire(): boolean
}

/** What the decision needs to know about the request. */
export interface RetryFacts {
  readonly method: string
  readonly idempotencyKey: boolean
  readonly tries: number
  readonly responseStarted: boolean
}

/**
 * Whether a failed try may be retried (SPEC 3): never after a response byte reached the client;
 * within `retries.attempts` tries; only for a condition listed in `retries.on`; a connect failure
 * for any method (nothing was sent); anything else only for idempotent methods or requests carrying
 * an Idempotency-Key, and only when no body byte was consumed; finally the budget must grant it.
 */
export function decideRetry(config: PoolConfig, failure: AttemptFailure, req: RetryFacts, gate: RetryGate | undefined): boolean {
  if (req.responseStarted || req.tries >= config.retries.attempts) return false
  if (failure.kind === 'client' || failure.kind === 'limit') return false
  if (!conditionListed(config.retries.on, failure)) return false
  if (failure.kind !== 'connect') {
    if (failure.bodyStarted) return false
    if (!isIdempotentMethod(req.method) && !req.idempotencyKey) return false
  }
  return gate === undefined || gate.tryAcquire()
}

function conditionListed(on: readonly string[], f: AttemptFailure): boolean {
  switch (f.kind) {
    case 'connect':
      return on.includes('connect-failure')
    case 'reset':
    case 'protocol':
      return on.includes('reset')
    case 'timeout':
      return on.includes('timeout')
    case 'status': {
      const s = String(f.status)
      return on.includes(s) || on.includes(`status:${s}`)
    }
    default:
      return false
  }
}
