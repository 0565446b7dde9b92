/**
 * Global round robin without a store call per request.
 *
 * Idea: one shared counter is the global sequence 0, 1, 2, ... A worker leases a block of `blockSize`
 * consecutive numbers at a time (`incrementBy(key, blockSize)` returns the block's end) and hands them out
 * synchronously; the balancer sends number `s` to `ready[s % ready.length]`, with `ready` in the same order on
 * every worker (sorted by id). The next block is leased ahead of need, when the numbers left drop to half a
 * block, so `next()` never waits.
 *
 * Why the spread is even: every number is handed out by exactly one worker, and a worker uses each block from
 * its start, in order. The used part of a block is a run of consecutive numbers, and a run of L consecutive
 * numbers maps to the n endpoints in rotation: each endpoint gets floor(L/n) or ceil(L/n) of them. So across all
 * workers and instances the endpoints' totals differ by at most the number of blocks in use (one partial block
 * per worker at any moment, plus a prefetched one that is untouched), independent of traffic volume: 12 000
 * requests over 4 workers are even to within a handful of requests, whatever the interleaving.
 *
 * Cost: one `incrementBy` per `blockSize` requests per worker. Store down: `next()` continues with a local
 * counter from the last global number (round robin stays even per worker, not across workers) and tries
 * to lease again at most once per `retryDelayMs`, never once per request.
 */
import { systemClock, type Clock } from '../core/index.js'
import type { StateStore } from './store.js'

/** Options of {@link SequenceLeaser}. */
export interface SequenceLeaserOptions {
  store: Pick<StateStore, 'incrementBy'>
  /** Counter key of the sequence (one per pool, e.g. `rr:<pool>`). */
  key: string
  /** Numbers leased at a time; default 100. Larger: fewer store calls, coarser spread while traffic is low. */
  blockSize?: number
  /** Counter TTL, ms; default 0 (never expires). */
  ttlMs?: number
  /** Wait after a failed lease before trying again, ms; default 1 000. */
  retryDelayMs?: number
  clock?: Clock
}

interface Block {
  next: number
  /** Exclusive. */
  end: number
}

/** Hands out global sequence numbers from leased blocks; see the file comment. */
export class SequenceLeaser {
  private readonly store: Pick<StateStore, 'incrementBy'>
  private readonly key: string
  private readonly blockSize: number
  private readonly ttlMs: number
  private readonly retryDelayMs: number
  private readonly clock: Clock
  private readonly blocks: Block[] = []
  private fetching: Promise<void> | undefined
  private failedAt = -Infinity
  private local = 0
  private fromBlock = false
  private closed = false

  constructor(options: SequenceLeaserOptions) {
    this.store = options.store
    this.key = options.key
    this.blockSize = Math.max(1, Math.trunc(options.blockSize ?? 100))
    this.ttlMs = options.ttlMs ?? 0
    this.retryDelayMs = options.retryDelayMs ?? 1_000
    this.clock = options.clock ?? systemClock
  }

  /** Leases the first block. Resolves when it arrived or failed (then `next()` counts locally). Never rejects. */
  start(): Promise<void> {
    this.prefetch(true)
    return this.fetching ?? Promise.resolve()
  }

  /**
   * The next sequence number, synchronous: from a leased block when one is available, otherwise from the
   * local counter (see {@link isGlobal}). Undefined only after `close()`.
   */
  next(): number | undefined {
    if (this.closed) return undefined
    let block = this.blocks[0]
    while (block !== undefined && block.next >= block.end) {
      this.blocks.shift()
      block = this.blocks[0]
    }
    let n: number
    if (block === undefined) {
      this.fromBlock = false
      n = this.local++
    } else {
      n = block.next++
      this.local = n + 1
      this.fromBlock = true
    }
    this.prefetch(false)
    return n
  }

  /** True when the last `next()` came from a leased block (shared sequence), false when it was local. */
  get isGlobal(): boolean {
    return this.fromBlock
  }

  /** Numbers left in leased blocks. */
  get remaining(): number {
    let r = 0
    for (const b of this.blocks) r += b.end - b.next
    return r
  }

  /** Stops handing out numbers; leased numbers left unused are skipped by everyone (harmless). */
  close(): void {
    this.closed = true
    this.blocks.length = 0
  }

  /** Leases one more block when half a block or less is left; one request at a time, throttled after failures. */
  private prefetch(force: boolean): void {
    if (this.closed || this.fetching !== undefined || this.remaining > this.blockSize / 2) return
    if (!force && this.clock.now() - this.failedAt < this.retryDelayMs) return
    this.fetching = this.store.incrementBy(this.key, this.blockSize, this.ttlMs).then(
      (end) => {
        if (!this.closed) this.blocks.push({ next: end - this.blockSize, end })
      },
      () => {
        this.failedAt = this.clock.now()
      },
    ).finally(() => {
      this.fetching = undefined
    })
  }
}
