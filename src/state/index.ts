/**
 * Shared state: the {@link StateStore} contract, its memory and Redis implementations, and the
 * helpers the request path reads synchronously (mirror, sequence leaser, batched counters).
 */
import type { StateConfig } from '../config/index.js'
import type { Clock } from '../core/index.js'
import { MemoryStore } from './memory-store.js'
import { RedisStore, type RedisStoreOptions } from './redis-store.js'
import type { StateStore } from './store.js'

export type { StateStore, StoreStatus, Versioned } from './store.js'
export { stateUnavailable, whenUp } from './store.js'
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js'
export { RedisStore, type RedisStoreOptions, type RedisStateConfig } from './redis-store.js'
export { TAKE_TOKENS_SCRIPT } from './token-bucket-script.js'
export { StateMirror, type StateMirrorOptions, type MirrorChange } from './mirror.js'
export { SequenceLeaser, type SequenceLeaserOptions } from './sequence.js'
export { BatchedCounter, type BatchedCounterOptions } from './counters.js'

/** Tuning passed through to the chosen implementation. */
export interface CreateStoreOptions {
  /** Memory store time source (counter TTLs, leases). */
  clock?: Clock
  /** Redis call timeout, ms (default 500). */
  commandTimeoutMs?: RedisStoreOptions['commandTimeoutMs']
  /** Redis health PING period, ms (default 1 000). */
  pingIntervalMs?: RedisStoreOptions['pingIntervalMs']
}

/**
 * Builds the store the configuration asks for: `memory` -> {@link MemoryStore}; `redis` -> {@link RedisStore}
 * (Cluster when `cluster` lists nodes, else Sentinel when `sentinels` does, else `url`). Does not wait for
 * Redis: the store starts 'degraded' and turns 'up' when connected (see `whenUp`).
 */
export function createStateStore(config: StateConfig, options: CreateStoreOptions = {}): StateStore {
  if (config.kind === 'memory') return new MemoryStore(options.clock === undefined ? {} : { clock: options.clock })
  const { kind: _kind, ...redis } = config
  return new RedisStore({ ...redis, commandTimeoutMs: options.commandTimeoutMs, pingIntervalMs: options.pingIntervalMs })
}
