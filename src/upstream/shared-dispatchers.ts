import type { Dispatcher } from 'undici'

/**
 * Keep-alive connection pools shared by the endpoints of one pool that have the same origin
 * (scheme, host and port): endpoints with distinct ids in front of the same address (a backend
 * listed several times, DNS names resolving to one address) then share one set of idle
 * connections instead of each keeping its own. With 1 000 endpoints over 3 addresses, a worker held
 * about one idle socket per endpoint (1 000 instead of a few dozen), every backend served that many
 * sparse connections and each request was more likely to pay a new connection.
 *
 * The pool's `maxConnectionsPerEndpoint` then caps the connections to the address. Not used when the
 * circuit breaker limits connections or pending requests per endpoint (both are counted on the
 * endpoint's own dispatcher), see `UpstreamPool`.
 */
export class SharedDispatchers {
  private readonly byOrigin = new Map<string, { dispatcher: Dispatcher; users: number }>()

  constructor(private readonly create: (url: URL, serverName: string | undefined) => Dispatcher) {}

  /**
   * The dispatcher of `url`'s origin (and TLS name: a discovered https:// address is verified against the
   * name it was resolved from), created on first use; release it with {@link release}.
   */
  acquire(url: URL, serverName?: string): Dispatcher {
    const key = keyOf(url, serverName)
    const entry = this.byOrigin.get(key)
    if (entry !== undefined) {
      entry.users++
      return entry.dispatcher
    }
    const dispatcher = this.create(url, serverName)
    this.byOrigin.set(key, { dispatcher, users: 1 })
    return dispatcher
  }

  /** One endpoint stopped using `url`'s dispatcher; the last one closes it (after its in-flight requests). */
  release(url: URL, serverName?: string): void {
    const key = keyOf(url, serverName)
    const entry = this.byOrigin.get(key)
    if (entry === undefined) return
    entry.users--
    if (entry.users > 0) return
    this.byOrigin.delete(key)
    entry.dispatcher.close().catch(() => undefined)
  }

  /** Closes every dispatcher (after in-flight requests). */
  async close(): Promise<void> {
    const all = [...this.byOrigin.values()]
    this.byOrigin.clear()
    await Promise.all(all.map((e) => e.dispatcher.close().catch(() => undefined)))
  }
}

function keyOf(url: URL, serverName: string | undefined): string {
  return serverName === undefined ? url.origin : `${url.origin} ${serverName}`
}
