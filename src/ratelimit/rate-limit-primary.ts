/**
 * The primary's side of rate limiting: answers every worker's {@link RateLimitLeaseMessage}. Scope `local`
 * batches go to the instance's {@link RateLimitAuthority} (synchronous); scope `global` batches go to a
 * {@link StoreTokenSource} over the shared store when the store is global (Redis), with the authority as the
 * fallback while the store is unreachable. With the memory store (scope 'instance'), "global" is this instance,
 * so global batches use the authority too.
 */
import { systemClock, type Clock } from '../core/index.js'
import type { StateStore } from '../state/index.js'
import type { RateLimitGrantMessage, RateLimitLeaseMessage } from './local-token-source.js'
import { RateLimitAuthority } from './rate-limit-authority.js'
import { StoreTokenSource, type StoreTokenSourceOptions } from './store-token-source.js'
import { InProcessTokenSource, type LeaseBatch, type LeaseGrant, type TokenSource } from './token-source.js'

/** Options of {@link RateLimitPrimary}. */
export interface RateLimitPrimaryOptions {
  /** The shared store; omitted or scope 'instance': global limits are per instance. */
  store?: StateStore | undefined
  clock?: Clock
  /** Most buckets in the local table; default 100 000. */
  maxKeys?: number
  /** Passed to the StoreTokenSource (timeouts, wall clock). */
  storeOptions?: Omit<StoreTokenSourceOptions, 'fallback'>
}

/** Answers lease batches in the primary; see the file comment. */
export class RateLimitPrimary {
  readonly authority: RateLimitAuthority
  private readonly local: TokenSource
  private readonly global: TokenSource
  /** The store-backed source when there is one (exposes `fallbackCount`). */
  readonly storeSource: StoreTokenSource | undefined

  constructor(options: RateLimitPrimaryOptions = {}) {
    this.authority = new RateLimitAuthority({ clock: options.clock ?? systemClock, maxKeys: options.maxKeys })
    this.local = new InProcessTokenSource(this.authority)
    const store = options.store
    this.storeSource = store !== undefined && store.scope === 'global' ? new StoreTokenSource(store, { ...options.storeOptions, fallback: this.local }) : undefined
    this.global = this.storeSource ?? this.local
  }

  /** Grants for one batch. Never rejects: if even the fallback fails, grants 0 (the worker answers 429). */
  async lease(batch: LeaseBatch): Promise<LeaseGrant[]> {
    try {
      return await (batch.scope === 'global' ? this.global : this.local).lease(batch)
    } catch {
      return batch.requests.map(() => ({ granted: 0, remaining: 0 }))
    }
  }

  /**
   * The answer to one worker message; send it back to that worker only:
   * `worker.on('message', (m) => { if (isRateLimitLeaseMessage(m)) void rl.handle(m).then((a) => worker.send(a)) })`.
   */
  async handle(message: RateLimitLeaseMessage): Promise<RateLimitGrantMessage> {
    return { type: 'lb:rl-grant', id: message.id, grants: await this.lease(message.batch) }
  }
}
