import { LbError } from '../core/index.js'
import type { PrimaryMessage, WorkerMessage } from './ipc.js'

/**
 * A worker's view of the primary's shared counters (`StateStore.incrementBy` over IPC), enough for
 * the sequence leaser (global round robin) and batched counters. Calls are few (one per leased block
 * or flush), never one per request; each fails after `timeoutMs` rather than hang.
 */
export class IpcCounter {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (n: number) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>()

  constructor(
    private readonly send: (msg: WorkerMessage) => void,
    private readonly timeoutMs = 2000,
  ) {}

  /** Adds `n` to `key` in the primary's store; resolves with the new value. */
  incrementBy(key: string, n: number, ttlMs: number): Promise<number> {
    const id = this.nextId++
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new LbError('LB_ERR_STATE_UNAVAILABLE', `no answer from the primary for ${key}`))
      }, this.timeoutMs)
      timer.unref()
      this.pending.set(id, { resolve, reject, timer })
      this.send({ type: 'lb:incr', id, key, n, ttlMs })
    })
  }

  /** Feeds an `lb:incr-result` message; ignores anything else. */
  onMessage(msg: PrimaryMessage): void {
    if (msg.type !== 'lb:incr-result') return
    const call = this.pending.get(msg.id)
    if (call === undefined) return
    this.pending.delete(msg.id)
    clearTimeout(call.timer)
    if (msg.value !== undefined) call.resolve(msg.value)
    else call.reject(new LbError('LB_ERR_STATE_UNAVAILABLE', msg.error ?? 'counter unavailable'))
  }
}
