/**
 * Sample HTTP backends for the demo, the benchmark and the tests. Every response, the WebSocket
 * handshake included, carries `x-backend: <name>`. Bodies are streamed with back-pressure; nothing large
 * is buffered. Routes:
 * - `GET /api/health` -> `{ status: 'ok', backend }`; `/api/test` -> `{ backend, message }`
 * - `/echo` (any method) -> `{ backend, method, url, headers, body }` (body as UTF-8, at most 1 MiB, else 413)
 * - `/delay/:ms` (0..60000) -> waits, then 200 `{ backend, delayMs }`
 * - `/status/:code` (100..599) -> that status; 100, 102 and 103 are sent as interim responses before a 200,
 *   other 1xx codes cannot be a final status and get 400
 * - `/bytes/:n` -> n bytes of `x` (n <= 1 GiB); `GET /download/:n` -> n deterministic bytes, see
 *   {@link expectedDownloadSha256}; `POST|PUT /upload` -> `{ backend, bytes, sha256 }` of the streamed body
 * - `/ws` WebSocket echo; anything else 404 JSON.
 */
import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { seededRandom } from '../core/index.js'
import { attachWebSocketEcho } from './websocket.js'

/** Largest body `/bytes/:n` and `/download/:n` will send: 1 GiB. */
export const MAX_STREAM_BYTES = 1024 * 1024 * 1024
/** Largest request body `/echo` collects: 1 MiB. */
export const MAX_ECHO_BYTES = 1024 * 1024
/** Longest `/delay/:ms`: 60 s. */
export const MAX_DELAY_MS = 60_000
/** Size of each streamed chunk: 64 KiB. */
export const CHUNK_BYTES = 64 * 1024

/** A running sample backend. */
export interface SampleBackend {
  readonly name: string
  readonly port: number
  /** `http://<host>:<port>` (127.0.0.1 when listening on every address). */
  readonly url: string
  readonly server: http.Server
  /** Stops listening, then closes idle keep-alive sockets, in-flight requests and WebSockets. Idempotent. */
  stop(): Promise<void>
}

/** Options of {@link startSampleBackend}. */
export interface SampleBackendOptions {
  name: string
  /** Default 0 (an ephemeral port). */
  port?: number
  /** Default `127.0.0.1`. */
  host?: string
}

const PATTERN = (() => {
  const random = seededRandom(0x5eed)
  const block = Buffer.allocUnsafe(CHUNK_BYTES)
  for (let i = 0; i < block.length; i++) block[i] = Math.floor(random() * 256)
  return block
})()
const FILL = Buffer.alloc(CHUNK_BYTES, 'x')

/**
 * Chunk `index` (64 KiB each, the last one cut to `length`) of the `/download/:n` body: a fixed seeded
 * pseudo-random block whose first 8 bytes are replaced by `index` (big-endian), so reordered or repeated
 * chunks change the hash.
 */
export function downloadChunk(index: number, length: number): Buffer {
  const chunk = Buffer.from(PATTERN.subarray(0, length))
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(index), 0)
  counter.copy(chunk, 0, 0, Math.min(8, length))
  return chunk
}

/** Hex sha256 of the body `GET /download/:n` sends (computed in 64 KiB chunks, about 0.5 s per 256 MiB). */
export function expectedDownloadSha256(n: number): string {
  const hash = createHash('sha256')
  for (let i = 0, sent = 0; sent < n; i++, sent += CHUNK_BYTES) hash.update(downloadChunk(i, Math.min(CHUNK_BYTES, n - sent)))
  return hash.digest('hex')
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(res.req.method === 'HEAD' || status === 204 || status === 304 ? undefined : text)
}

/** Streams `total` bytes made by `chunkAt(index, length)`, waiting for `drain` whenever the socket is full. */
function streamBody(res: http.ServerResponse, total: number, chunkAt: (index: number, length: number) => Buffer): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
  if (res.req.method === 'HEAD') return void res.end()
  let index = 0
  let sent = 0
  const pump = (): void => {
    while (sent < total) {
      if (res.destroyed) return
      const length = Math.min(CHUNK_BYTES, total - sent)
      const chunk = chunkAt(index++, length)
      sent += length
      if (!res.write(chunk)) return void res.once('drain', pump)
    }
    res.end()
  }
  pump()
}

/** Parses a non-negative decimal integer no larger than `max`; undefined otherwise. */
function parseCount(text: string, max: number): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined
  const n = Number(text)
  return n <= max ? n : undefined
}

function handle(name: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.setHeader('x-backend', name)
  const method = req.method ?? 'GET'
  const url = req.url ?? '/'
  const path = url.split('?')[0] ?? '/'
  const [, first = '', second = '', extra] = path.split('/')
  const isRead = method === 'GET' || method === 'HEAD'

  if (path === '/echo') return echo(name, req, res)
  if (path === '/upload' && (method === 'POST' || method === 'PUT')) return upload(name, req, res)
  req.resume() // every other route ignores the body; drain it so the connection stays reusable
  if (path === '/api/health') {
    if (!isRead) return sendJson(res, 405, { error: 'method not allowed', backend: name })
    return sendJson(res, 200, { status: 'ok', backend: name })
  }
  if (path === '/upload') return sendJson(res, 405, { error: 'use POST or PUT', backend: name })
  if (path === '/api/test') return sendJson(res, 200, { backend: name, message: `Hello from ${name}` })
  if (extra === undefined && first === 'delay') {
    const delayMs = parseCount(second, MAX_DELAY_MS)
    if (delayMs === undefined) return sendJson(res, 400, { error: `delay must be 0..${MAX_DELAY_MS} ms`, backend: name })
    const timer = setTimeout(() => sendJson(res, 200, { backend: name, delayMs }), delayMs)
    res.once('close', () => clearTimeout(timer))
    return
  }
  if (extra === undefined && first === 'status') {
    const code = parseCount(second, 599)
    if (code === undefined || code < 100) return sendJson(res, 400, { error: 'status must be 100..599', backend: name })
    if (code === 100) res.writeContinue()
    else if (code === 102) res.writeProcessing()
    else if (code === 103) res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' })
    else if (code < 200) return sendJson(res, 400, { error: `${code} cannot be a final status`, backend: name })
    if (code < 200) return sendJson(res, 200, { backend: name, informational: code })
    return sendJson(res, code, { backend: name, status: code })
  }
  if (extra === undefined && (first === 'bytes' || first === 'download')) {
    const n = parseCount(second, MAX_STREAM_BYTES)
    if (n === undefined) return sendJson(res, 400, { error: `size must be 0..${MAX_STREAM_BYTES} bytes`, backend: name })
    if (first === 'bytes') return streamBody(res, n, (_i, length) => FILL.subarray(0, length))
    if (!isRead) return sendJson(res, 405, { error: 'method not allowed', backend: name })
    return streamBody(res, n, downloadChunk)
  }
  sendJson(res, 404, { error: 'not found', backend: name, path })
}

function echo(name: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = []
  let size = 0
  const onData = (chunk: Buffer): void => {
    size += chunk.length
    if (size <= MAX_ECHO_BYTES) return void chunks.push(chunk)
    req.off('data', onData)
    req.resume()
    res.setHeader('connection', 'close')
    sendJson(res, 413, { error: `echo body is limited to ${MAX_ECHO_BYTES} bytes`, backend: name })
  }
  req.on('data', onData)
  req.once('end', () => {
    if (size > MAX_ECHO_BYTES) return
    const body = Buffer.concat(chunks).toString('utf8')
    sendJson(res, 200, { backend: name, method: req.method, url: req.url, headers: req.headers, body })
  })
}

function upload(name: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  const hash = createHash('sha256')
  let bytes = 0
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length
    hash.update(chunk)
  })
  req.once('end', () => sendJson(res, 200, { backend: name, bytes, sha256: hash.digest('hex') }))
}

/**
 * Starts one sample backend on `host:port` (defaults `127.0.0.1:0`) with HTTP keep-alive (5 s idle).
 * Rejects with the listen error (e.g. `EADDRINUSE`).
 */
export async function startSampleBackend(options: SampleBackendOptions): Promise<SampleBackend> {
  const { name, port = 0, host = '127.0.0.1' } = options
  const server = http.createServer({ keepAlive: true, keepAliveTimeout: 5000 }, (req, res) => handle(name, req, res))
  const ws = attachWebSocketEcho(server, '/ws', undefined, { headers: { 'x-backend': name } })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const actualPort = (server.address() as AddressInfo).port
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  let stopped: Promise<void> | undefined
  return {
    name,
    port: actualPort,
    url: `http://${urlHost}:${actualPort}`,
    server,
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
        ws.destroyAll()
      })
      return stopped
    },
  }
}

/**
 * Starts `count` backends named `backend-1`, `backend-2`, ... on `basePort`, `basePort + 1`, ... (default 3001).
 * A port already taken (`EADDRINUSE`) falls back to an ephemeral port; read `port` from the result.
 * On any other error the backends already started are stopped and the error is rethrown.
 */
export async function startSampleBackends(count: number, basePort = 3001): Promise<SampleBackend[]> {
  const started: SampleBackend[] = []
  try {
    for (let i = 0; i < count; i++) {
      const name = `backend-${i + 1}`
      try {
        started.push(await startSampleBackend({ name, port: basePort + i }))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
        started.push(await startSampleBackend({ name, port: 0 }))
      }
    }
    return started
  } catch (err) {
    await Promise.all(started.map((b) => b.stop()))
    throw err
  }
}
