/**
 * The peers of the listener conformance suite (listener.suite.ts): a client per listener kind (HTTP/1.1
 * with keep-alive, plain or TLS; one HTTP/2 session, TLS or h2c), raw byte exchanges, and the echo backend.
 */
import { createServer, request as httpRequest, Agent as HttpAgent, type IncomingHttpHeaders, type Server } from 'node:http'
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https'
import http2 from 'node:http2'
import net from 'node:net'
import tls from 'node:tls'

/** A balancer started for one contract check, serving the kind under test on `port`. */
export interface ListenerUnderTest {
  readonly port: number
  /** Graceful drain of the whole process (every listener), as SIGTERM does. */
  drain(timeoutMs: number): Promise<void>
  close(): Promise<void>
}

/** One listener kind: how to reach it and how to start a balancer serving it. */
export interface ListenerKind {
  readonly name: string
  /** TLS (certificates are the test's own: the client does not verify them). */
  readonly secure: boolean
  /** `h2`: HTTP/2 (ALPN on TLS, prior knowledge in clear); `http/1.1` otherwise. */
  readonly protocol: 'http/1.1' | 'h2'
  start(backendUrl: string): Promise<ListenerUnderTest>
}

export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

export interface Exchange {
  method?: string
  path: string
  headers?: Record<string, string>
  /** A string is sent with Content-Length; an array is streamed without one (chunked in HTTP/1.1). */
  body?: string | string[]
}

/** A client of one kind: requests share one connection (keep-alive / one HTTP/2 session) until `close`. */
export interface Client {
  send(x: Exchange): Promise<Answer>
  /** Local ports of the TCP connections used so far (one entry per connection). */
  connections(): number
  close(): void
}

export function openClient(kind: ListenerKind, port: number): Client {
  return kind.protocol === 'h2' ? openH2Client(kind, port) : openH1Client(kind, port)
}

function openH1Client(kind: ListenerKind, port: number): Client {
  const agent = kind.secure ? new HttpsAgent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false }) : new HttpAgent({ keepAlive: true, maxSockets: 1 })
  const sockets = new Set<object>()
  const send = (x: Exchange): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const options = { host: '127.0.0.1', port, method: x.method ?? 'GET', path: x.path, headers: { host: 'conf.test', ...headersOf(x) }, agent }
      const req = kind.secure ? httpsRequest({ ...options, servername: 'conf.test' }) : httpRequest(options)
      req.on('socket', (s) => sockets.add(s))
      req.on('error', reject)
      req.on('response', (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
        res.on('error', reject)
      })
      writeBody(req, x.body)
    })
  return { send, connections: () => sockets.size, close: () => agent.destroy() }
}

function openH2Client(kind: ListenerKind, port: number): Client {
  const authority = `${kind.secure ? 'https' : 'http'}://127.0.0.1:${port}`
  const session = http2.connect(authority, kind.secure ? { rejectUnauthorized: false, servername: 'conf.test' } : {})
  session.on('error', () => undefined)
  const send = (x: Exchange): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const stream = session.request({ ':method': x.method ?? 'GET', ':path': x.path, ':authority': 'conf.test', ...headersOf(x) })
      stream.on('error', reject)
      stream.on('response', (h) => {
        let body = ''
        stream.setEncoding('utf8')
        stream.on('data', (d: string) => (body += d))
        stream.on('end', () => resolve({ status: Number(h[':status']), headers: h as IncomingHttpHeaders, body }))
      })
      writeBody(stream, x.body)
    })
  return { send, connections: () => 1, close: () => session.close() }
}

/** The request's headers: `x.headers`, and Content-Length for a string body. */
function headersOf(x: Exchange): Record<string, string> {
  return typeof x.body === 'string' ? { ...x.headers, 'content-length': String(Buffer.byteLength(x.body)) } : { ...x.headers }
}

function writeBody(out: NodeJS.WritableStream, body: string | string[] | undefined): void {
  if (typeof body === 'string') out.end(body)
  else if (Array.isArray(body)) {
    for (const part of body) out.write(part)
    out.end()
  } else out.end()
}

/** What the backend saw of one request. */
export interface Seen {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

/**
 * The contract's backend: echoes what it saw as JSON with Content-Length; `/chunked` answers in three
 * writes without a length; `/slow` answers after 400 ms; every answer carries `x-backend: conf` and
 * hop-by-hop headers the balancer must not relay.
 */
export async function startBackend(): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (d: string) => (body += d))
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body }
      seen.push(s)
      res.setHeader('x-backend', 'conf')
      // Hop-by-hop: `keep-alive` and a header named in `Connection` (the listener may send its own Keep-Alive).
      res.setHeader('keep-alive', 'timeout=77')
      res.setHeader('connection', 'x-hop')
      res.setHeader('x-hop', 'backend-only')
      if (s.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('one,')
        setTimeout(() => res.write('two,'), 20)
        setTimeout(() => res.end('three'), 40)
        return
      }
      const json = JSON.stringify(s)
      const answer = (): void => {
        res.writeHead(s.url.startsWith('/status/') ? Number(s.url.slice(8)) : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) })
        res.end(json)
      }
      if (s.url === '/slow') setTimeout(answer, 400)
      else answer()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    }),
  }
}

/** Raw bytes over a plain or TLS connection; resolves with everything read until the server closes. */
export function rawExchange(kind: ListenerKind, port: number, bytes: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket: net.Socket = kind.secure
      ? tls.connect({ host: '127.0.0.1', port, servername: 'conf.test', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
      : net.connect(port, '127.0.0.1')
    let text = ''
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ text, closed: false })
    }, 5000)
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => (text += d))
    socket.on('error', reject)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ text, closed: true })
    })
    socket.once(kind.secure ? 'secureConnect' : 'connect', () => socket.write(bytes))
  })
}
