import type { Server as NetServer, Socket } from 'node:net'
import { endThenLinger } from '../wire/index.js'

/**
 * `node:http` ends a connection after a response that closes it (a refusal with `Connection: close`, the
 * client's own `Connection: close`, HTTP/1.0) with `socket.destroySoon()`: destroyed as soon as that
 * response is flushed. The bytes the client still sends (requests it pipelined behind a refused one, the
 * rest of a body) are then answered with a reset, and a client whose write fails before it read the
 * response loses it. This gives each connection of `server` (`event`: `connection`, or `secureConnection`
 * on a TLS server) the lingering close of the balancer's own listener instead: the response and a FIN go
 * out, then what the client still sends is read and dropped until it closes or goes quiet (at most 5 s).
 */
export function lingerOnClose(server: NetServer, event: 'connection' | 'secureConnection' = 'connection'): void {
  server.on(event, (socket: Socket) => {
    socket.destroySoon = () => endThenLinger(socket)
  })
}
