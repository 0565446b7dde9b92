/**
 * Scope `local` from a worker: a {@link TokenSource} whose buckets live in the primary's
 * {@link RateLimitAuthority}, reached through the cluster IPC channel. The worker sends a
 * {@link RateLimitLeaseMessage} per batch and the primary answers with a {@link RateLimitGrantMessage} carrying
 * the same `id`. The transport is injected (`send`), so this class has no process or cluster dependency.
 *
 * Both messages are members of the IPC unions in `cluster/ipc.ts`: `WorkerMessage` carries
 * {@link RateLimitLeaseMessage} (`lb:rl-lease`), `PrimaryMessage` carries {@link RateLimitGrantMessage}
 * (`lb:rl-grant`, sent only to the asking worker).
 */
import { LbError } from '../core/index.js'
import type { LeaseBatch, LeaseGrant, TokenSource } from './token-source.js'

/** Worker -> primary: one batch of lease requests for one route. */
export interface RateLimitLeaseMessage {
  type: 'lb:rl-lease'
  /** Per-worker request number, echoed in the answer. */
  id: number
  batch: LeaseBatch
}

/** Primary -> the asking worker: one grant per request of the batch, in order. */
export interface RateLimitGrantMessage {
  type: 'lb:rl-grant'
  id: number
  grants: LeaseGrant[]
}

/** True for a {@link RateLimitLeaseMessage} (for the primary's message listener). */
export function isRateLimitLeaseMessage(x: unknown): x is RateLimitLeaseMessage {
  return typeof x === 'object' && x !== null && (x as { type?: unknown }).type === 'lb:rl-lease'
}

/** Options of {@link LocalTokenSource}. */
export interface LocalTokenSourceOptions {
  /** A lease not answered within this time rejects (the limiter then falls back), ms; default 1 000. */
  timeoutMs?: number
}

interface Pending {
  resolve: (g: LeaseGrant[]) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

/** The worker side of the `local` scope; see the file comment. */
export class LocalTokenSource implements TokenSource {
  private readonly timeoutMs: number
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closed = false

  /** `send` posts a message to the primary (`process.send`); it may throw when the channel is closed. */
  constructor(
    private readonly send: (message: RateLimitLeaseMessage) => void,
    options: LocalTokenSourceOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 1_000
  }

  lease(batch: LeaseBatch): Promise<LeaseGrant[]> {
    if (this.closed) return Promise.reject(new LbError('LB_ERR_INTERNAL', 'rate limit token source closed'))
    const id = this.nextId++
    return new Promise<LeaseGrant[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new LbError('LB_ERR_INTERNAL', `rate limit lease ${id} not answered within ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      timer.unref()
      this.pending.set(id, { resolve, reject, timer })
      try {
        this.send({ type: 'lb:rl-lease', id, batch })
      } catch (err) {
        clearTimeout(timer)
        this.pending.delete(id)
        reject(new LbError('LB_ERR_INTERNAL', 'rate limit lease could not be sent to the primary', { cause: err }))
      }
    })
  }

  /** Feed every {@link RateLimitGrantMessage} from the primary here. Unknown or late ids are ignored. */
  handleGrant(message: RateLimitGrantMessage): void {
    const p = this.pending.get(message.id)
    if (p === undefined) return
    this.pending.delete(message.id)
    clearTimeout(p.timer)
    p.resolve(message.grants)
  }

  /** Rejects every pending lease; later leases reject at once. */
  close(): void {
    this.closed = true
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(new LbError('LB_ERR_INTERNAL', `rate limit lease ${id} abandoned: source closed`))
    }
    this.pending.clear()
  }
}
