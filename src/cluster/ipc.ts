import type { LbConfig } from '../config/index.js'
import type { RateLimitGrantMessage, RateLimitLeaseMessage } from '../ratelimit/index.js'

/**
 * Typed messages between the primary and its workers (node:cluster IPC, `advanced` serialization).
 * Nothing else crosses the process boundary.
 */
export type PrimaryMessage =
  /** First message to a new worker: the configuration to serve. */
  | { type: 'lb:config'; config: LbConfig }
  /** Stop accepting, finish in-flight requests, exit 0. */
  | { type: 'lb:drain'; timeoutMs: number }
  /** An endpoint's shared state changed (health, ejection, drain, weight). */
  | { type: 'lb:endpoint'; pool: string; id: string; change: EndpointChange }
  /**
   * A reloaded configuration: rebuild routes and pools; pools whose configuration is unchanged keep
   * their connections and state. Followed by a replay of the shared endpoint facts.
   */
  | { type: 'lb:reload'; config: LbConfig }
  /** Tokens granted for a worker's rate-limit lease batch (only to the worker that asked). */
  | RateLimitGrantMessage
  /** Answer to `lb:incr`: the counter's new value, or why it failed. */
  | { type: 'lb:incr-result'; id: number; value?: number | undefined; error?: string | undefined }
  /** Endpoints added or removed at run time. */
  | { type: 'lb:endpoints'; pool: string; add?: LbConfig['pools'][string]['backends']; remove?: string[] }

/** One change to one endpoint, as applied by every worker. */
export type EndpointChange =
  | { healthy: boolean }
  /** Passive ejection; `durationMs` (remaining) because clocks differ per process. */
  | { ejected: boolean; durationMs?: number | undefined }
  | { drained: boolean }
  | { weight: number }

export type WorkerMessage =
  /**
   * The worker's message listener is attached: send the configuration now. (A message sent on
   * 'online' can arrive before an ES module worker has attached its listener, and would be lost.)
   */
  | { type: 'lb:hello'; pid: number }
  /** The worker listens and serves. */
  | { type: 'lb:ready'; pid: number }
  /** The worker could not start (bad listen address...). */
  | { type: 'lb:failed'; pid: number; error: string }
  /** A passive-check ejection seen by one worker, for the primary to spread to all. */
  | { type: 'lb:ejection'; pool: string; id: string; ejected: boolean; durationMs?: number | undefined }
  /** A batch of rate-limit token leases (local scope: the primary's buckets; global: the store's). */
  | RateLimitLeaseMessage
  /** Increment a shared counter in the primary's state store (sequence blocks, rate-limit counts). */
  | { type: 'lb:incr'; id: number; key: string; n: number; ttlMs: number }
  /** A circuit changed state in this worker (for the admin view; circuits are per worker). */
  | { type: 'lb:circuit'; pool: string; id: string; state: 'closed' | 'open' | 'half-open' }

const PRIMARY_TYPES = new Set(['lb:config', 'lb:reload', 'lb:drain', 'lb:endpoint', 'lb:endpoints', 'lb:incr-result', 'lb:rl-grant'])
const WORKER_TYPES = new Set(['lb:hello', 'lb:ready', 'lb:failed', 'lb:ejection', 'lb:circuit', 'lb:incr', 'lb:rl-lease'])

/** True for a message the primary sends (ignores anything else on the channel). */
export function isPrimaryMessage(x: unknown): x is PrimaryMessage {
  return typeof x === 'object' && x !== null && PRIMARY_TYPES.has((x as { type?: string }).type ?? '')
}

/** True for a message a worker sends. */
export function isWorkerMessage(x: unknown): x is WorkerMessage {
  return typeof x === 'object' && x !== null && WORKER_TYPES.has((x as { type?: string }).type ?? '')
}
