/**
 * HTTP/2 with prior knowledge (h2c, RFC 9113 3.3) on the plain listener, next to HTTP/1.1 on the same
 * port: the first bytes of each connection decide. A connection that opens with the HTTP/2 preface is
 * handed to a cleartext `http2` server (same request handler, same adaptation as HTTP/2 over TLS);
 * any other is given back to the HTTP/1.1 code with those bytes put back in front.
 */
import { createServer as createHttp2Server, type Http2Server } from 'node:http2'
import type { Server as NetServer, Socket } from 'node:net'
import type { ClientLimits } from '../config/index.js'
import type { ClientRequest, ClientResponse } from '../proxy/index.js'
import type { ConnectionRegistry } from './connection-registry.js'
import { createHttp2RequestListener, http2ServerOptions, trackSessions } from './http2-server.js'

/** The client connection preface of HTTP/2 (RFC 9113 3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

/** Sessions with no open stream for this long get GOAWAY (as on the TLS listener). */
const IDLE_SESSION_MS = 60_000

function ignore(): void {}

/** True when `chunk` is (the start of) the HTTP/2 connection preface. */
export function startsWithPreface(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, PREFACE.length)
  return n > 0 && chunk.subarray(0, n).equals(PREFACE.subarray(0, n))
}

/**
 * Makes `server` (the plain listener, before any other `connection` listener than its HTTP/1.1 one is
 * added) also serve h2c, its sessions kept in `registry`. The HTTP/1.1 connection listeners registered so far are taken off and called
 * only for connections that are not HTTP/2; an HTTP/1.1 socket then reads through the stream (the
 * first bytes were already read there), not through the parser's direct handle reads.
 */
export function acceptH2c(server: NetServer, handler: (req: ClientRequest, res: ClientResponse) => void, limits: ClientLimits, registry: ConnectionRegistry): Http2Server {
  const { ALPNProtocols: _alpn, allowHTTP1: _h1, ...options } = http2ServerOptions(limits)
  const h2 = createHttp2Server(options)
  // The listener's drain sends these sessions GOAWAY and leaves their sockets out of its idle sweep.
  trackSessions(h2 as unknown as Parameters<typeof trackSessions>[0], IDLE_SESSION_MS, registry.sessions)
  h2.on('request', createHttp2RequestListener(handler, limits))
  const http1 = server.listeners('connection') as ((socket: Socket) => void)[]
  server.removeAllListeners('connection')
  server.on('connection', (socket: Socket) => {
    // A peer that never sends a byte is closed by the header deadline, as an HTTP/1.1 one would be.
    const timer = setTimeout(() => socket.destroy(), limits.headerTimeoutMs)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
    // Until a protocol's code owns the socket, a reset must not become an unhandled 'error'.
    socket.on('error', ignore)
    // Bytes read until the first one that rules the preface in or out (a client may send one at a time).
    let head: Buffer = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk])
      const h2c = startsWithPreface(head)
      if (h2c && head.length < PREFACE.length) return
      socket.off('data', onData)
      socket.off('error', ignore)
      clearTimeout(timer)
      socket.pause()
      socket.unshift(head)
      if (h2c) {
        registry.mark(socket, 'http2')
        h2.emit('connection', socket)
        return
      }
      // The bytes already read live in the stream's buffer: the parser must read from there too.
      const handle = (socket as Socket & { _handle?: { _consumed?: boolean } | null })._handle
      if (handle != null) handle._consumed = true
      for (const listener of http1) listener.call(server, socket)
      socket.resume()
    }
    socket.on('data', onData)
  })
  return h2
}
