/**
 * Keeps the discovered endpoints of one pool fresh: resolves each of its targets now, then again after
 * `dnsRefreshMs`, or the record TTL when shorter (never below 1 s). A failed lookup keeps the last
 * known set (nothing is reported to `onUpdate`) and is retried sooner (5 s, or the refresh when
 * shorter); every lookup is published on the DNS channel (metrics and log count and report it).
 * `onUpdate` gets every successful answer, with `changed` telling whether the target's set of endpoints
 * (ids, URLs, weights) differs from the last one.
 */
import { dnsChannel, type DnsEvent } from '../../core/index.js'
import type { BackendConfig, PoolConfig } from '../../config/index.js'
import { createLookup, type LookupFn } from './dns-lookup.js'
import { endpointsOf, poolTargets, type DnsTarget } from './dns-target.js'

/** Shortest time between two lookups of one name, ms. */
export const MIN_DNS_REFRESH_MS = 1000
/** Longest time before a failed lookup is tried again, ms. */
const FAILED_RETRY_MS = 5000

/** A target's set of endpoints after a successful lookup. */
export interface DiscoveryUpdate {
  target: DnsTarget
  endpoints: BackendConfig[]
  /** False when the set is the same as the last lookup's. */
  changed: boolean
}

/** Options of {@link PoolDiscovery}. */
export interface PoolDiscoveryOptions {
  pool: PoolConfig
  onUpdate: (update: DiscoveryUpdate) => void
  /** Default: `node:dns` with the pool's `dnsResolvers`. */
  lookup?: LookupFn
}

interface Loop {
  target: DnsTarget
  timer: NodeJS.Timeout | undefined
  /** Fingerprint of the last set reported; undefined until the first successful lookup. */
  last: string | undefined
}

/** The DNS discovery of one pool's targets (one timer per target). */
export class PoolDiscovery {
  private readonly loops: Loop[] = []
  private readonly lookup: LookupFn
  private stopped = true
  /** Bumped by every start(): a lookup still in flight from before a stop() is ignored when it ends. */
  private generation = 0

  constructor(private readonly options: PoolDiscoveryOptions) {
    this.lookup = options.lookup ?? createLookup({ servers: options.pool.dnsResolvers })
    for (const target of poolTargets(options.pool)) this.loops.push({ target, timer: undefined, last: undefined })
  }

  /** True when the pool has anything to discover. */
  get hasTargets(): boolean {
    return this.loops.length > 0
  }

  /** Starts resolving (the first lookups at once). */
  start(): void {
    if (!this.stopped) return
    this.stopped = false
    const generation = ++this.generation
    for (const loop of this.loops) {
      // Report the first answer even when it equals the last one: while this instance was not
      // resolving, another one may have published something else.
      loop.last = undefined
      void this.round(loop, generation)
    }
  }

  /** Stops every timer; a lookup in flight is ignored when it ends. */
  stop(): void {
    this.stopped = true
    for (const loop of this.loops) clearTimeout(loop.timer)
  }

  private async round(loop: Loop, generation: number): Promise<void> {
    const { target } = loop
    const refreshMs = Math.max(MIN_DNS_REFRESH_MS, this.options.pool.dnsRefreshMs)
    let delayMs: number
    try {
      const result = await this.lookup(target)
      if (this.stopped || generation !== this.generation) return
      const endpoints = endpointsOf(target, result.addresses)
      const fingerprint = JSON.stringify(endpoints)
      const changed = fingerprint !== loop.last
      loop.last = fingerprint
      publish({ pool: target.pool, name: target.name, result: 'success', addresses: endpoints.length, changed })
      this.options.onUpdate({ target, endpoints, changed })
      const ttlMs = result.ttlSeconds === undefined ? Infinity : result.ttlSeconds * 1000
      delayMs = Math.max(MIN_DNS_REFRESH_MS, Math.min(refreshMs, ttlMs))
    } catch (err) {
      if (this.stopped || generation !== this.generation) return
      const e = err as NodeJS.ErrnoException
      publish({ pool: target.pool, name: target.name, result: 'failure', error: e.code ?? e.message, everResolved: loop.last !== undefined })
      delayMs = Math.max(MIN_DNS_REFRESH_MS, Math.min(refreshMs, FAILED_RETRY_MS))
    }
    loop.timer = setTimeout(() => void this.round(loop, generation), delayMs)
    loop.timer.unref()
  }
}

function publish(e: DnsEvent): void {
  if (dnsChannel.hasSubscribers) dnsChannel.publish(e)
}
