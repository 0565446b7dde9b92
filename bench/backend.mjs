// Benchmark backend: a minimal node:http keep-alive server, run as its own process by bench/run.mjs.
//
//   node bench/backend.mjs [--port N] [--host 127.0.0.1] [--workers N] [--h2c]
//
// GET /2b answers "ok" (2 bytes), GET /16k answers 16 KiB, both with Content-Length; anything else 404.
// --h2c: the same over cleartext HTTP/2 (prior knowledge) instead of HTTP/1.1, plus a gRPC unary method
// `/bench.Echo/Unary` that answers the request's message back with `grpc-status: 0` (written with
// node:http2 directly, so the backend costs the same whoever calls it).
// Prints `backend: listening on http://HOST:PORT pid=PID` once ready (port 0 = a free port, the default).
// --workers N > 1 runs N node:cluster workers sharing the port (default 1: no cluster, one process).
// SIGTERM / SIGINT close the server and exit 0.
import http from 'node:http'
import http2 from 'node:http2'
import cluster from 'node:cluster'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    workers: { type: 'string', default: '1' },
    h2c: { type: 'boolean', default: false },
  },
  strict: true,
})
const port = Number(values.port)
const workers = Math.max(1, Number(values.workers) || 1)

const SMALL = Buffer.from('ok')
const LARGE = Buffer.alloc(16 * 1024, 'x')
const HEADERS_SMALL = { 'content-type': 'text/plain', 'content-length': String(SMALL.length) }
const HEADERS_LARGE = { 'content-type': 'application/octet-stream', 'content-length': String(LARGE.length) }

/** A cleartext HTTP/2 server: /2b, /16k and the gRPC echo. */
function createH2cServer() {
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } })
  server.on('stream', (stream, headers) => {
    const path = headers[':path']
    if (path === '/bench.Echo/Unary') {
      const chunks = []
      stream.on('data', (c) => chunks.push(c))
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
        stream.end(Buffer.concat(chunks))
      })
      return
    }
    stream.resume()
    const body = path === '/2b' ? SMALL : path === '/16k' ? LARGE : null
    if (body === null) {
      stream.respond({ ':status': 404, 'content-type': 'text/plain', 'content-length': '9' })
      stream.end('not found')
      return
    }
    stream.respond({ ':status': 200, ...(body === SMALL ? HEADERS_SMALL : HEADERS_LARGE) })
    stream.end(body)
  })
  server.on('sessionError', () => undefined)
  server.closeAllConnections = () => undefined
  return server
}

function serve() {
  if (values.h2c) return listen(createH2cServer())
  const server = http.createServer((req, res) => {
    // Drain any request body so the connection stays reusable.
    req.resume()
    if (req.url === '/2b') {
      res.writeHead(200, HEADERS_SMALL)
      res.end(SMALL)
    } else if (req.url === '/16k') {
      res.writeHead(200, HEADERS_LARGE)
      res.end(LARGE)
    } else {
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '9' })
      res.end('not found')
    }
  })
  // Keep-alive with no per-socket request cap; the proxies' idle timeouts (< 65 s) close first.
  server.keepAliveTimeout = 65_000
  server.headersTimeout = 66_000
  server.maxRequestsPerSocket = 0
  listen(server)
}

function listen(server) {
  server.listen(port, values.host, () => {
    const addr = server.address()
    if (cluster.isPrimary || cluster.worker?.id === 1) {
      console.log(`backend: listening on http://${values.host}:${addr.port} pid=${process.pid}`)
    }
  })
  const stop = () => {
    server.close(() => process.exit(0))
    server.closeAllConnections()
    setTimeout(() => process.exit(0), 1000).unref()
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork()
  const stop = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM')
    setTimeout(() => process.exit(0), 1500).unref()
  }
  cluster.on('exit', () => {
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
  })
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
} else {
  serve()
}
