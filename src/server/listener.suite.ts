/**
 * The request/response contract every listener kind keeps (plain HTTP/1.1 on the balancer's own code and
 * on `node:http`, HTTP/1.1 over TLS, HTTP/2 over TLS, h2c), run over real sockets against a real backend:
 * status, headers and bodies (Content-Length and chunked, both ways), keep-alive, the JSON error shape
 * (and 400 + close for a malformed HTTP/1.1 request), X-Forwarded-*, and the graceful drain.
 * Use: `listenerConformance(kind)` from a test file, where `kind.start(backendUrl)` starts a balancer
 * whose only pool is that backend.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
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

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

interface Exchange {
  method?: string
  path: string
  headers?: Record<string, string>
  /** A string is sent with Content-Length; an array is streamed without one (chunked in HTTP/1.1). */
  body?: string | string[]
}

/** A client of one kind: requests share one connection (keep-alive / one HTTP/2 session) until `close`. */
interface Client {
  send(x: Exchange): Promise<Answer>
  /** Local ports of the TCP connections used so far (one entry per connection). */
  connections(): number
  close(): void
}

function openClient(kind: ListenerKind, port: number): Client {
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
interface Seen {
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
async function startBackend(): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
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
function rawExchange(kind: ListenerKind, port: number, bytes: string): Promise<{ text: string; closed: boolean }> {
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

/** Registers the contract's tests for `kind` (each starts its own backend and balancer). */
export function listenerConformance(kind: ListenerKind): void {
  const withBalancer = (name: string, body: (lb: ListenerUnderTest, backend: Awaited<ReturnType<typeof startBackend>>) => Promise<void>): void => {
    test(`${kind.name}: ${name}`, async (t) => {
      const backend = await startBackend()
      t.after(() => backend.close())
      const lb = await kind.start(backend.url)
      t.after(() => lb.close())
      await body(lb, backend)
    })
  }

  withBalancer('status, response headers and a Content-Length body are relayed; hop-by-hop headers are not', async (lb) => {
    const client = openClient(kind, lb.port)
    try {
      const ok = await client.send({ path: '/hello?x=1' })
      assert.equal(ok.status, 200)
      assert.equal(ok.headers['x-backend'], 'conf')
      assert.notEqual(ok.headers['keep-alive'], 'timeout=77')
      assert.equal(ok.headers['x-hop'], undefined)
      assert.match(String(ok.headers['x-request-id']), /^[A-Za-z0-9._:-]{1,128}$/)
      assert.equal(JSON.parse(ok.body).url, '/hello?x=1')
      const created = await client.send({ path: '/status/201' })
      assert.equal(created.status, 201)
    } finally {
      client.close()
    }
  })

  withBalancer('request bodies with a length and streamed without one reach the backend; a chunked response arrives whole', async (lb, backend) => {
    const client = openClient(kind, lb.port)
    try {
      const sized = await client.send({ method: 'POST', path: '/sized', body: 'x'.repeat(5000) })
      assert.equal(sized.status, 200)
      assert.equal(JSON.parse(sized.body).body, 'x'.repeat(5000))
      const streamed = await client.send({ method: 'POST', path: '/streamed', body: ['alpha-', 'beta-', 'gamma'] })
      assert.equal(streamed.status, 200)
      assert.equal(JSON.parse(streamed.body).body, 'alpha-beta-gamma')
      const chunked = await client.send({ path: '/chunked' })
      assert.equal(chunked.status, 200)
      assert.equal(chunked.body, 'one,two,three')
      assert.deepEqual(backend.seen.map((s) => s.method + ' ' + s.url), ['POST /sized', 'POST /streamed', 'GET /chunked'])
    } finally {
      client.close()
    }
  })

  withBalancer('keep-alive: several requests share one connection', async (lb) => {
    const client = openClient(kind, lb.port)
    try {
      for (let i = 0; i < 5; i++) assert.equal((await client.send({ path: `/k/${i}` })).status, 200)
      assert.equal(client.connections(), 1)
    } finally {
      client.close()
    }
  })

  withBalancer('X-Forwarded-For, -Proto and -Host are set from the connection and the request', async (lb, backend) => {
    const client = openClient(kind, lb.port)
    try {
      assert.equal((await client.send({ path: '/fwd', headers: { 'x-request-id': 'conformance-1' } })).status, 200)
    } finally {
      client.close()
    }
    const h = backend.seen[0]?.headers ?? {}
    assert.equal(h['x-forwarded-for'], '127.0.0.1')
    assert.equal(h['x-forwarded-proto'], kind.secure ? 'https' : 'http')
    assert.equal(h['x-forwarded-host'], 'conf.test')
    assert.equal(h['x-request-id'], 'conformance-1')
  })

  withBalancer('a refused request gets the JSON error shape (414 for a URL past the limit)', async (lb, backend) => {
    const client = openClient(kind, lb.port)
    try {
      const r = await client.send({ path: `/${'a'.repeat(9 * 1024)}` })
      assert.equal(r.status, 414)
      assert.match(String(r.headers['content-type']), /^application\/json/)
      const body = JSON.parse(r.body) as { error?: unknown; code?: unknown; requestId?: unknown }
      assert.equal(body.code, 'LB_ERR_URI_TOO_LONG')
      assert.equal(typeof body.error, 'string')
      assert.equal(body.requestId, r.headers['x-request-id'])
      assert.equal(backend.seen.length, 0)
    } finally {
      client.close()
    }
  })

  if (kind.protocol === 'http/1.1') {
    withBalancer('a malformed request (Content-Length and Transfer-Encoding) gets 400 with the JSON shape, then the connection closes', async (lb, backend) => {
      const raw = 'POST /bad HTTP/1.1\r\nHost: conf.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
      const { text, closed } = await rawExchange(kind, lb.port, raw)
      assert.ok(text.startsWith('HTTP/1.1 400 Bad Request\r\n'), `status line: ${JSON.stringify(text.slice(0, 40))}`)
      assert.match(text, /\r\ncontent-type: application\/json/i)
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { code?: unknown }
      assert.equal(body.code, 'LB_ERR_AMBIGUOUS_FRAMING')
      assert.equal(closed, true)
      assert.equal(backend.seen.length, 0)
    })
  }

  if (kind.protocol === 'http/1.1') {
    withBalancer('a parse error in a pipeline is answered after the valid requests before it, then the connection closes', async (lb, backend) => {
      const head = 'HTTP/1.1\r\nHost: conf.test\r\n'
      const raw = `GET /slow ${head}\r\nGET /fast ${head}\r\nGET /bad ${head}Content-Length: x\r\n\r\n`
      const { text, closed } = await rawExchange(kind, lb.port, raw)
      assert.deepEqual(text.match(/HTTP\/1\.1 \d{3} [^\r]*/g), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 400 Bad Request'], text)
      assert.match(text, /"url":"\/slow"[^]*"url":"\/fast"/)
      assert.equal(closed, true)
      assert.deepEqual(backend.seen.map((s) => s.url), ['/slow', '/fast'])
    })
  }

  withBalancer('drain: a request in flight finishes with 200, new connections are refused, drain resolves', async (lb, backend) => {
    const client = openClient(kind, lb.port)
    try {
      const inFlight = client.send({ path: '/slow' })
      const deadline = Date.now() + 5000
      while (backend.seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      // The backend answers /slow only after its body ended: the request is in flight now.
      await new Promise((r) => setTimeout(r, 50))
      const drained = lb.drain(10_000)
      const answer = await inFlight
      assert.equal(answer.status, 200)
      assert.equal(JSON.parse(answer.body).url, '/slow')
      if (kind.protocol === 'http/1.1') assert.equal(answer.headers.connection, 'close')
      await drained
      const refused = await new Promise<string>((resolve) => {
        const s = net.connect(lb.port, '127.0.0.1')
        s.on('connect', () => {
          s.destroy()
          resolve('connected')
        })
        s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'))
      })
      assert.equal(refused, 'ECONNREFUSED')
    } finally {
      client.close()
    }
  })
}
