import { Server as NetServer, type Socket } from 'node:net'
import type { Http2Session } from 'node:http2'
import type { ProxyRuntime } from '../proxy/index.js'

const tracked = new WeakMap<NetServer, Set<Socket>>()
/** Connections handed to a tunnel (WebSocket): never idle in the HTTP sense, they end on their own. */
const tunnels = new WeakSet<Socket>()

/**
 * Remembers the open connections of a server, plain or TLS (drain needs them; Node keeps its list
 * private). Returns the live set. `event`: `connection` (every TCP socket) or, on a TLS server,
 * `secureConnection` (the TLS sockets, the ones the HTTP layer serves on).
 */
export function trackConnections(server: NetServer, event: 'connection' | 'secureConnection' = 'connection'): Set<Socket> {
  const sockets = new Set<Socket>()
  if (event === 'connection') {
    tracked.set(server, sockets)
    server.on('upgrade', (_req: unknown, socket: Socket) => tunnels.add(socket))
  }
  server.on(event, (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  return sockets
}

/** HTTP/2 (h2c) sessions served on a plain listener's sockets, and those sockets. */
const http2On = new WeakMap<NetServer, { sessions: ReadonlySet<Http2Session>; sockets: WeakSet<Socket> }>()

/**
 * Tells the drain of `server` that some of its sockets carry HTTP/2 sessions (h2c): the drain sends those
 * sessions GOAWAY, lets their open streams finish, and leaves their sockets out of the idle sweep (an
 * HTTP/2 socket has no HTTP/1.1 request on it even while streams are open).
 */
export function registerHttp2Sessions(server: NetServer, sessions: ReadonlySet<Http2Session>, sockets: WeakSet<Socket>): void {
  http2On.set(server, { sessions, sockets })
}

/** A keep-alive connection idle this long while draining is closed: its client has gone quiet. */
const IDLE_GRACE_MS = 1000
const SWEEP_MS = 100

/**
 * The drain's idle sweep: every SWEEP_MS, closes each HTTP/1.1 connection of `sockets` seen idle (no
 * request in progress, not a tunnel) for a whole IDLE_GRACE_MS. Closing an idle connection the moment
 * its client reuses it would reset a request that may already be on the wire, which is why Node's own
 * `closeIdleConnections()` is not used. `skip`: connections the sweep leaves alone (HTTP/2 sessions,
 * which end by GOAWAY). `onEmpty` runs when no connection is left. Returns the function that stops it.
 */
export function sweepIdleConnections(sockets: ReadonlySet<Socket>, options: { skip?: (socket: Socket) => boolean; onEmpty?: () => void } = {}): () => void {
  const idleSince = new Map<Socket, number>()
  const sweeper = setInterval(() => {
    const now = performance.now()
    for (const socket of sockets) {
      const busy = (socket as Socket & { _httpMessage?: unknown })._httpMessage != null
      if (busy || tunnels.has(socket) || options.skip?.(socket) === true) {
        idleSince.delete(socket)
        continue
      }
      const since = idleSince.get(socket)
      if (since === undefined) idleSince.set(socket, now)
      else if (now - since >= IDLE_GRACE_MS) socket.destroySoon()
    }
    for (const socket of idleSince.keys()) if (!sockets.has(socket)) idleSince.delete(socket)
    if (sockets.size === 0) options.onEmpty?.()
  }, SWEEP_MS)
  return () => clearInterval(sweeper)
}

/**
 * Graceful drain: stop accepting; every response from now on carries `Connection: close`, so each
 * keep-alive connection ends cleanly after its next response; a connection seen idle for a whole
 * second is closed ({@link sweepIdleConnections}); in-flight requests and open tunnels (WebSockets)
 * finish; after `timeoutMs` whatever is left is closed. Resolves when every connection is closed.
 */
export function drainServer(server: NetServer & { closeAllConnections(): void }, runtime: ProxyRuntime, timeoutMs: number): Promise<void> {
  runtime.shuttingDown = true
  const sockets = tracked.get(server) ?? new Set<Socket>()
  return new Promise((resolve) => {
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      stopSweep()
      server.closeAllConnections()
      for (const socket of sockets) socket.destroy() // tunnels still open at the deadline
      resolve()
    }
    const timer = setTimeout(finish, timeoutMs)
    const h2 = http2On.get(server)
    for (const session of h2?.sessions ?? []) session.close()
    const stopSweep = sweepIdleConnections(sockets, { onEmpty: finish, skip: h2 === undefined ? undefined : (socket) => h2.sockets.has(socket) })
    // Stop accepting without net.Server's http override, which would also close idle keep-alive
    // connections at once (Node >= 19).
    NetServer.prototype.close.call(server, () => finish())
  })
}
