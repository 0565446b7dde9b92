// Shared by the two floor probes (bench/floors/floor-splice.mjs, floor-rebuild.mjs): what any Node proxy on
// Node's own llhttp binding must pay at least, with no balancing feature at all. They are floors to measure
// the balancer against, not code to ship: round robin over the backends, no health, no limits, no logs.
//
// Both probes share everything but how heads are forwarded:
//   - client side: a `net` server; each connection feeds Node's llhttp REQUEST parser from JS (execute()),
//     which validates the bytes and tells where each message ends; one request at a time per connection
//     (wrk does not pipeline; a pipelined request waits in the buffer until the one before it is answered);
//   - upstream side: a keep-alive pool of `net` sockets per backend, each with an llhttp RESPONSE parser.
//
//   node bench/floors/floor-splice.mjs --port P --backends http://127.0.0.1:A,http://127.0.0.1:B [--workers 2]
import cluster from 'node:cluster'
import net from 'node:net'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'

// llhttp's method codes match `methods`' indexes for every method a load test sends (GET, HEAD, POST...).
const { HTTPParser, methods: METHODS } = createRequire(import.meta.url)('_http_common')
const { kOnHeadersComplete, kOnBody, kOnMessageComplete } = HTTPParser
const CRLF2 = Buffer.from('\r\n\r\n')
const MAX_HEAD = 16 * 1024

/**
 * Runs a probe. `forwarder` says how bytes cross the proxy:
 *   requestHead(client, rawHeadBytes, head) -> Buffer to write upstream (head: method, url, headers...);
 *   responseHead(client, status, statusMessage, headers); responseBody(client, chunk);
 *   responseBytes(client, data) (every validated upstream packet as it arrived); responseEnd(client).
 * Prints `<name>: listening on PORT` once every worker listens.
 */
export function runProbe(name, forwarder) {
  const { values } = parseArgs({ options: { port: { type: 'string' }, backends: { type: 'string' }, workers: { type: 'string', default: '2' } } })
  const workers = Number(values.workers)
  if (cluster.isPrimary) {
    for (let i = 0; i < workers; i++) cluster.fork()
    let ready = 0
    cluster.on('listening', () => {
      if (++ready === workers) console.log(`${name}: listening on ${values.port}`)
    })
    const stop = () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.kill()
      process.exit(0)
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
    return
  }
  // Exit through process.exit so that `--cpu-prof` writes the worker's profile.
  process.on('SIGTERM', () => process.exit(0))
  const backends = String(values.backends).split(',').map((u) => new URL(u)).map((u) => new Backend(u.hostname, Number(u.port)))
  let next = 0
  const pick = () => backends[next++ % backends.length]
  net
    .createServer({ noDelay: true }, (socket) => new ClientConnection(socket, pick, forwarder))
    .listen(Number(values.port), '127.0.0.1')
}

/** A keep-alive pool of plain sockets to one backend. */
class Backend {
  constructor(host, port) {
    this.host = host
    this.port = port
    this.idle = []
  }

  /** An idle connection, or a new one (connecting: writes are queued by the socket). */
  take() {
    const up = this.idle.pop()
    if (up !== undefined) return up
    return new UpstreamConnection(this)
  }
}

/** One upstream socket with its response parser. `client` is the exchange it serves right now. */
class UpstreamConnection {
  constructor(backend) {
    this.backend = backend
    this.client = undefined
    this.skipBody = false
    this.socket = net.connect({ host: backend.host, port: backend.port, noDelay: true })
    this.parser = new HTTPParser()
    this.parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEAD, 0)
    this.parser[kOnHeadersComplete] = (major, minor, headers, _m, _u, status, statusMessage, _up, keepAlive) => {
      this.keepAlive = keepAlive
      this.client?.forwarder.responseHead(this.client, status, statusMessage, headers)
      return this.skipBody ? 1 : 0
    }
    this.parser[kOnBody] = (chunk) => this.client?.forwarder.responseBody(this.client, chunk)
    this.parser[kOnMessageComplete] = () => {
      this.done = true
    }
    this.socket.on('data', (data) => this.onData(data))
    const fail = () => this.fail()
    this.socket.on('error', fail)
    this.socket.on('close', fail)
  }

  send(client, bytes, skipBody) {
    this.client = client
    this.skipBody = skipBody
    this.done = false
    this.socket.write(bytes)
  }

  onData(data) {
    const client = this.client
    const ret = this.parser.execute(data)
    if (ret instanceof Error) return this.socket.destroy()
    if (client === undefined) return this.socket.destroy() // bytes nobody asked for
    client.forwarder.responseBytes(client, data)
    if (!this.done) return
    client.forwarder.responseEnd(client)
    this.client = undefined
    if (this.keepAlive) this.backend.idle.push(this)
    else this.socket.end()
    client.responseDone()
  }

  fail() {
    const i = this.backend.idle.indexOf(this)
    if (i >= 0) this.backend.idle.splice(i, 1)
    const client = this.client
    this.client = undefined
    this.parser.close?.()
    if (client !== undefined) client.socket.destroy()
  }
}

/** One client connection: validates each request with llhttp, forwards it, waits for its response. */
class ClientConnection {
  constructor(socket, pick, forwarder) {
    this.socket = socket
    this.pick = pick
    this.forwarder = forwarder
    this.pending = [] // unparsed bytes behind the request in progress
    this.busy = false
    this.head = undefined
    this.parser = new HTTPParser()
    this.parser.initialize(HTTPParser.REQUEST, {}, MAX_HEAD, 0)
    this.parser[kOnHeadersComplete] = (major, minor, headers, method, url, _s, _m, upgrade, keepAlive) => {
      this.head = { method: METHODS[method], url, headers, keepAlive, major, minor }
      return 0
    }
    this.parser[kOnBody] = () => {} // the probes' clients send no bodies
    this.parser[kOnMessageComplete] = () => {
      this.complete = true
    }
    this.buffer = Buffer.alloc(0)
    socket.on('data', (data) => this.onData(data))
    socket.on('error', () => socket.destroy())
  }

  onData(data) {
    if (this.busy) {
      this.pending.push(data)
      return
    }
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data])
    this.next()
  }

  /** Parses the buffered bytes up to the end of one request head and forwards that request. */
  next() {
    const buf = this.buffer
    if (buf.length === 0) return
    let start = 0
    while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2
    const end = buf.indexOf(CRLF2, start)
    if (end < 0) {
      if (buf.length > MAX_HEAD) this.socket.destroy()
      return
    }
    const headEnd = end + 4
    this.complete = false
    this.head = undefined
    const ret = this.parser.execute(buf.subarray(0, headEnd))
    if (ret instanceof Error || this.head === undefined || !this.complete) return this.socket.destroy() // bad or with a body
    this.buffer = buf.subarray(headEnd)
    this.busy = true
    const up = this.pick().take()
    up.send(this, this.forwarder.requestHead(this, buf.subarray(start, headEnd), this.head), this.head.method === 'HEAD')
  }

  responseDone() {
    this.busy = false
    if (!this.head.keepAlive) return this.socket.end()
    for (const p of this.pending.splice(0)) this.buffer = Buffer.concat([this.buffer, p])
    this.next()
  }
}

