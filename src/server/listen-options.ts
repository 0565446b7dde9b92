import { Server as NetServer, type ListenOptions, type Socket } from 'node:net'

/** How a listener's socket is bound, beyond its address. */
export interface ListenSocketOptions {
  /** Accept queue length asked of the kernel (capped by `net.core.somaxconn`); Node's default is 511. */
  backlog?: number
  /**
   * Bind this process's own sockets with SO_REUSEPORT (Node 22.12+; the configuration refuses it on older
   * Node, which would ignore it): under `node:cluster` the bind is then `exclusive`, so the kernel spreads
   * connections over the workers' sockets instead of the primary accepting them and handing each over IPC.
   */
  reusePort?: boolean
}

/**
 * Listening sockets per worker with SO_REUSEPORT. Node (libuv) accepts one connection per listening
 * socket per event-loop iteration, and a worker busy with a few hundred connections turns its loop about
 * 200 times a second: a burst of 1 000 new connections then waited seconds in the kernel's accept queue
 * (measured: 500 queued connections took 2.6 s with one socket and a 5 ms loop, 0.22 s with 16). Each
 * extra socket of the same SO_REUSEPORT group adds an accept per iteration; the kernel hashes new
 * connections over all of them, so the workers still get even shares.
 */
export const ACCEPT_SOCKETS_PER_WORKER = 8

/** A bound listener: closes its extra sockets and counts the connections they took. */
export interface Listening {
  /** Stops accepting on the extra sockets (the listener's own `close()` stops the first one). */
  closeExtra(): void
  /** Connections open on the listener, whichever of its sockets accepted them. */
  getConnections(callback: (err: Error | null, count: number) => void): void
}

/** `server.listen()` options for `host:port` with `socket`'s settings. */
function listenOptions(port: number, host: string, socket: ListenSocketOptions): ListenOptions {
  const options: ListenOptions & { reusePort?: boolean } = { port, host }
  if (socket.backlog !== undefined) options.backlog = socket.backlog
  if (socket.reusePort === true) {
    options.exclusive = true
    options.reusePort = true
  }
  return options
}

function listenOnce(server: NetServer, options: ListenOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/** The socket settings `net.Server` gives the connections it accepts, copied so extra sockets give the same. */
interface SocketSettings { allowHalfOpen?: boolean; pauseOnConnect?: boolean; noDelay?: boolean; keepAlive?: boolean; keepAliveInitialDelay?: number; highWaterMark?: number }

/**
 * Binds `server` on `host:port`. With `reusePort`, also binds {@link ACCEPT_SOCKETS_PER_WORKER} - 1 extra
 * sockets of the same SO_REUSEPORT group whose connections are handed to `server` as its own
 * (`'connection'`, the event every listener here serves from: `net`, `tls` and `http` servers alike).
 */
export async function listenOn(server: NetServer, port: number, host: string, socket: ListenSocketOptions): Promise<Listening> {
  const options = listenOptions(port, host, socket)
  await listenOnce(server, options)
  const extra: NetServer[] = []
  if (socket.reusePort === true) {
    const s = server as NetServer & SocketSettings
    const settings = { allowHalfOpen: s.allowHalfOpen, pauseOnConnect: s.pauseOnConnect, noDelay: s.noDelay, keepAlive: s.keepAlive, keepAliveInitialDelay: s.keepAliveInitialDelay, highWaterMark: s.highWaterMark }
    try {
      for (let i = 1; i < ACCEPT_SOCKETS_PER_WORKER; i++) {
        const acceptor = new NetServer(settings, (conn: Socket) => server.emit('connection', conn))
        await listenOnce(acceptor, options)
        extra.push(acceptor)
      }
    } catch (err) {
      for (const a of extra) a.close()
      server.close()
      throw err
    }
  }
  return {
    closeExtra: () => {
      for (const a of extra) if (a.listening) a.close()
    },
    getConnections: (callback) => {
      let total = 0
      let pending = extra.length + 1
      let failed: Error | null = null
      const add = (err: Error | null, n: number): void => {
        if (err !== null) failed = err
        total += n
        if (--pending === 0) callback(failed, total)
      }
      server.getConnections(add)
      for (const a of extra) a.getConnections(add)
    },
  }
}
