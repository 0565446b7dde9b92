import { Server as NetServer, type Socket } from 'node:net'
import type { ProxyRuntime } from '../proxy/index.js'
import { registryOf, type ConnectionRegistry } from './connection-registry.js'

/** A keep-alive connection idle this long while draining is closed: its client has gone quiet. */
const IDLE_GRACE_MS = 1000
const SWEEP_MS = 100

/**
 * The drain's idle sweep: every SWEEP_MS, closes each HTTP/1.1 connection the registry serves that was
 * seen idle (no response in progress, not a tunnel, not an HTTP/2 session, which ends by GOAWAY) for a
 * whole IDLE_GRACE_MS. Closing an idle connection the moment its client reuses it would reset a request
 * that may already be on the wire, which is why Node's own `closeIdleConnections()` is not used.
 * `onEmpty` runs when no connection (transport socket) is left. Returns the function that stops it.
 */
function sweepIdleConnections(registry: ConnectionRegistry, onEmpty?: () => void): () => void {
  const idleSince = new Map<Socket, number>()
  const sweeper = setInterval(() => {
    const now = performance.now()
    for (const socket of registry.served) {
      if (registry.isBusy(socket) || registry.kindOf(socket) !== 'http1') {
        idleSince.delete(socket)
        continue
      }
      const since = idleSince.get(socket)
      if (since === undefined) idleSince.set(socket, now)
      else if (now - since >= IDLE_GRACE_MS) socket.destroySoon()
    }
    for (const socket of idleSince.keys()) if (!registry.served.has(socket)) idleSince.delete(socket)
    if (registry.sockets.size === 0) onEmpty?.()
  }, SWEEP_MS)
  return () => clearInterval(sweeper)
}

/** What a listener's drain stops: a `net.Server` (plain or TLS) whose connections a registry keeps. */
export type DrainableServer = NetServer & { closeAllConnections?(): void }

/**
 * Graceful drain of one listener, plain or TLS: stop accepting; every response from now on carries
 * `Connection: close`, so each keep-alive connection ends cleanly after its next response; HTTP/2
 * sessions get GOAWAY and finish their open streams; a connection seen idle for a whole second is closed
 * ({@link sweepIdleConnections}); in-flight requests and open tunnels (WebSockets) finish; after
 * `timeoutMs` whatever is left is destroyed. Resolves when every connection is closed.
 */
export function drainServer(server: DrainableServer, runtime: ProxyRuntime, timeoutMs: number): Promise<void> {
  runtime.shuttingDown = true
  const registry = registryOf(server)
  return new Promise((resolve) => {
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      stopSweep()
      for (const session of registry.sessions) session.destroy()
      server.closeAllConnections?.()
      for (const socket of registry.sockets) socket.destroy() // tunnels still open at the deadline
      resolve()
    }
    const timer = setTimeout(finish, timeoutMs)
    for (const session of registry.sessions) session.close()
    const stopSweep = sweepIdleConnections(registry, finish)
    // Stop accepting without the http/https/http2 close overrides, which would also close idle
    // keep-alive connections at once (Node >= 19).
    // Its callback comes once the connections this socket accepted are gone; those that extra SO_REUSEPORT
    // sockets handed over (server/listen-options.ts) are only in the registry, which the sweep watches.
    if (server.listening) NetServer.prototype.close.call(server, () => registry.sockets.size === 0 && finish())
    else finish()
  })
}
