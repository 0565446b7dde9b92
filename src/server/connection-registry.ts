import type { Http2Session } from 'node:http2'
import type { Server as NetServer, Socket } from 'node:net'

/** What a connection carries, as far as the drain is concerned. */
export type ConnectionKind = 'http1' | 'http2' | 'tunnel'

/** A response in progress on a connection: `node:http`'s `ServerResponse` or the own listener's. */
export type ResponseInProgress = object

/**
 * The open connections of one listener, kept explicitly (Node keeps its own list private): every
 * transport socket, the sockets the HTTP layer serves on (the same ones on a plain listener, the TLS
 * sockets on a TLS one), what each carries (HTTP/1.1, an HTTP/2 session, a tunnel), the responses not
 * finished yet on each HTTP/1.1 connection, and the HTTP/2 sessions. The drain and the client-error
 * answers read it; nothing reads Node's private per-socket fields.
 */
export class ConnectionRegistry {
  /** Every transport (TCP) socket still open. */
  readonly sockets = new Set<Socket>()
  /** The sockets the HTTP layer serves on, still open (TLS: the decrypted ones). */
  readonly served = new Set<Socket>()
  /** HTTP/2 sessions still open (h2c on the plain listener, h2 on the TLS one). */
  readonly sessions = new Set<Http2Session>()
  private readonly kinds = new WeakMap<Socket, ConnectionKind>()
  /** Per `node:http` connection, the responses not finished yet, oldest (the one being written) first. */
  private readonly unfinished = new WeakMap<Socket, ResponseInProgress[]>()
  /** Per own-listener connection, the response being written (that listener queues the others itself). */
  private readonly writing = new WeakMap<Socket, ResponseInProgress>()

  /** The kind of `socket` (HTTP/1.1 unless marked otherwise). */
  kindOf(socket: Socket): ConnectionKind {
    return this.kinds.get(socket) ?? 'http1'
  }

  /** Marks `socket` as carrying an HTTP/2 session or a tunnel (WebSocket, any Upgrade). */
  mark(socket: Socket, kind: ConnectionKind): void {
    this.kinds.set(socket, kind)
  }

  /** Adds a response to its connection's queue; it leaves once finished or closed (`forget`). */
  responseStarted(socket: Socket, res: ResponseInProgress): void {
    let list = this.unfinished.get(socket)
    if (list === undefined) this.unfinished.set(socket, (list = []))
    list.push(res)
  }

  /** Removes a finished (or abandoned) response from its connection's queue. */
  responseEnded(socket: Socket, res: ResponseInProgress): void {
    const list = this.unfinished.get(socket)
    const i = list?.indexOf(res) ?? -1
    if (i >= 0) list?.splice(i, 1)
  }

  /** The responses of a `node:http` connection not finished yet, oldest first (empty when idle). */
  responses(socket: Socket): readonly ResponseInProgress[] {
    return this.unfinished.get(socket) ?? []
  }

  /** The own listener reports the response it writes on `socket` now (undefined: none). */
  setWriting(socket: Socket, res: ResponseInProgress | undefined): void {
    if (res === undefined) this.writing.delete(socket)
    else this.writing.set(socket, res)
  }

  /** The response being written on `socket`, if any. */
  current(socket: Socket): ResponseInProgress | undefined {
    return this.writing.get(socket) ?? this.unfinished.get(socket)?.[0]
  }

  /** True while an HTTP/1.1 connection has a response in progress (a request is being answered). */
  isBusy(socket: Socket): boolean {
    return this.current(socket) !== undefined
  }

  /**
   * Starts keeping the connections of `server`: `connection` sockets always; with `served` =
   * `secureConnection`, the TLS sockets as the served ones (else the TCP sockets are). Upgraded
   * connections are marked as tunnels.
   */
  attach(server: NetServer, served: 'connection' | 'secureConnection' = 'connection'): this {
    registries.set(server, this)
    keep(server, 'connection', this.sockets)
    keep(server, served, this.served)
    server.on('upgrade', (_req: unknown, socket: Socket) => this.mark(socket, 'tunnel'))
    return this
  }
}

function keep(server: NetServer, event: string, into: Set<Socket>): void {
  server.on(event, (socket: Socket) => {
    into.add(socket)
    socket.once('close', () => into.delete(socket))
  })
}

const registries = new WeakMap<NetServer, ConnectionRegistry>()

/** The registry attached to `server` (an empty one when none was: a listener built elsewhere). */
export function registryOf(server: NetServer): ConnectionRegistry {
  return registries.get(server) ?? new ConnectionRegistry()
}

/**
 * Keeps the registry's response queues for a `node:http` server (`http.Server`, `https.Server` or the
 * HTTP/1.1 side of an HTTP/2 server): a response counts from its `request` event until it finishes or
 * its connection closes. The balancer's own listener reports its responses itself.
 */
export function trackResponses(server: { on(event: 'request', listener: (req: { socket: Socket; httpVersionMajor?: number }, res: ResponseInProgress & NodeJS.EventEmitter) => void): unknown }, registry: ConnectionRegistry): void {
  server.on('request', (req, res) => {
    // HTTP/2 streams share their session's socket: they are not queued HTTP/1.1 responses.
    if (req.httpVersionMajor === 2) return
    const socket = req.socket
    registry.responseStarted(socket, res)
    const forget = (): void => registry.responseEnded(socket, res)
    res.once('finish', forget)
    res.once('close', forget)
  })
}
