import type { StateStore } from '../state/index.js'

/**
 * Elects one health prober per pool across instances with an expiring store lease, so probe traffic
 * does not grow with the number of instances. The holder renews every third of the TTL; when it dies
 * the lease expires and another instance takes over within about one TTL. When the store is
 * unreachable every instance probes for itself (it cannot know who else does), and the election
 * resumes when the store is back.
 */
export class ProberElection {
  private timer: NodeJS.Timeout | undefined
  private probing = false
  private holding = false
  private stopped = false

  constructor(
    private readonly store: StateStore,
    private readonly lease: string,
    private readonly holderId: string,
    private readonly onChange: (probing: boolean) => void,
    private readonly ttlMs = 3000,
  ) {}

  /** True while this instance should probe. */
  get isProbing(): boolean {
    return this.probing
  }

  start(): void {
    void this.round()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    this.set(false)
    if (this.holding) await this.store.releaseLease(this.lease, this.holderId).catch(() => false)
    this.holding = false
  }

  private async round(): Promise<void> {
    try {
      this.holding = this.holding
        ? await this.store.renewLease(this.lease, this.holderId, this.ttlMs)
        : await this.store.acquireLease(this.lease, this.holderId, this.ttlMs)
      this.set(this.holding)
    } catch {
      this.holding = false
      this.set(true) // store down: probe locally rather than not at all
    }
    if (this.stopped) return
    this.timer = setTimeout(() => void this.round(), Math.max(100, Math.floor(this.ttlMs / 3)))
    this.timer.unref()
  }

  private set(probing: boolean): void {
    if (this.stopped && probing) return
    if (probing === this.probing) return
    this.probing = probing
    this.onChange(probing)
  }
}
