import { Server as NetServer, type Socket } from 'node:net'
import type { Server } from 'node:http'
import type { ProxyRuntime } from '../proxy/index.js'

const tracked = new WeakMap<NetServer, Set<Socket>>()
/** Connections handed to a tunnel (WebSocket): never idle in the HTTP sense, they end on their own. */
const tunnels = new WeakSet<Socket>()

/**
 * Remembers the open connections of a server, plain or TLS (drain needs them; Node keeps its list
 * private). Returns the live set.
 */
export function trackConnections(server: NetServer): Set<Socket> {
  const sockets = new Set<Socket>()
  tracked.set(server, sockets)
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  server.on('upgrade', (_req: unknown, socket: Socket) => tunnels.add(socket))
  return sockets
}

/** A keep-alive connection idle this long while draining is closed: its client has gone quiet. */
const IDLE_GRACE_MS = 1000
const SWEEP_MS = 100

/**
 * Graceful drain: stop accepting; every response from now on carries `Connection: close`, so each
 * keep-alive connection ends cleanly after its next response; a connection seen idle for a whole
 * second is closed (closing an idle connection the moment its client reuses it would reset that
 * request, which is why Node's own `server.close()` closing of idle connections is not used); in-flight
 * requests and open tunnels (WebSockets) finish; after `timeoutMs` whatever is left is closed.
 * Resolves when every connection is closed.
 */
export function drainServer(server: Server, runtime: ProxyRuntime, timeoutMs: number): Promise<void> {
  runtime.shuttingDown = true
  const sockets = tracked.get(server) ?? new Set<Socket>()
  const idleSince = new Map<Socket, number>()
  return new Promise((resolve) => {
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      clearInterval(sweeper)
      server.closeAllConnections()
      for (const socket of sockets) socket.destroy() // tunnels still open at the deadline
      resolve()
    }
    const timer = setTimeout(finish, timeoutMs)
    const sweeper = setInterval(() => {
      const now = performance.now()
      for (const socket of sockets) {
        const busy = (socket as Socket & { _httpMessage?: unknown })._httpMessage != null
        if (busy || tunnels.has(socket)) {
          idleSince.delete(socket)
          continue
        }
        const since = idleSince.get(socket)
        if (since === undefined) idleSince.set(socket, now)
        else if (now - since >= IDLE_GRACE_MS) socket.destroySoon()
      }
      if (sockets.size === 0) finish()
    }, SWEEP_MS)
    // Stop accepting without net.Server's http override, which would also close idle keep-alive
    // connections at once (Node >= 19).
    NetServer.prototype.close.call(server, () => finish())
  })
}
