/**
 * The scriptable test backend used by integration tests: a real `http.createServer()` on 127.0.0.1 that
 * tags every response with `x-backend: <name>`, records every request, and replays a script of steps
 * (`200, 503, 503, 200`, delays, hangs, resets) so a test can assert who answered, in what order and when.
 */
import http from 'node:http'
import type net from 'node:net'
import type { AddressInfo } from 'node:net'
import { attachWebSocketEcho } from '../../src/demo/websocket.js'

/**
 * One scripted answer:
 * - a number or `{ status, delayMs?, body?, headers? }`: answer that status (after `delayMs`), JSON body by default;
 * - `'hang'`: read the request and never answer;
 * - `'reset'`: read the request, then reset the TCP connection (RST) without answering;
 * - `'reset-mid-body'`: send 200 headers (`content-length: 1024`) and 100 bytes, then close the socket.
 */
export type Step =
  | number
  | { status: number; delayMs?: number; body?: string; headers?: Record<string, string> }
  | 'hang'
  | 'reset'
  | 'reset-mid-body'

/** A request as the backend saw it. `bodyBytes` grows while the body arrives; final once it ended. */
export interface RecordedRequest {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  bodyBytes: number
  /** `Date.now()` when the request head arrived. */
  at: number
}

/** Options of {@link startTestBackend}. */
export interface TestBackendOptions {
  name: string
  /** Default 0 (ephemeral). */
  port?: number
  /** Loopback address to bind (default 127.0.0.1; any 127.x.y.z works on Linux, for DNS discovery tests). */
  host?: string
  /** Steps replayed in order; after the last, the last step repeats (or the script restarts with `loop`). */
  script?: Array<number | Step>
  /** Restart the script from the top after its last step instead of repeating the last step. */
  loop?: boolean
  /** Only requests whose path starts with this prefix follow the script; others get the default answer. */
  scriptPath?: string
}

/** A running test backend. */
export interface TestBackend {
  readonly name: string
  readonly port: number
  readonly url: string
  readonly server: http.Server
  /** Every request received (WebSocket upgrades excluded), in arrival order. */
  readonly requests: RecordedRequest[]
  /** Number of requests received, or of those whose path (query excluded) equals `path`. */
  count(path?: string): number
  /** Replaces the script and restarts it from its first step. An empty array means the default answer. */
  setScript(steps: Array<number | Step>, options?: { loop?: boolean }): void
  /** Stops listening and destroys every connection, hung requests and WebSockets included. Idempotent. */
  close(): Promise<void>
  /** Destroys every open connection (HTTP and WebSocket) but keeps listening. */
  closeAllConnections(): void
}

function stepAt(script: Array<number | Step>, index: number, loop: boolean): Step | undefined {
  if (script.length === 0) return undefined
  return script[loop ? index % script.length : Math.min(index, script.length - 1)]
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  const noBody = res.req.method === 'HEAD' || status === 204 || status === 304 || status < 200
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(noBody ? undefined : text)
}

/** Starts a scriptable backend on 127.0.0.1. Without a script every request gets 200 `{ backend, method, url, headers }`. */
export async function startTestBackend(options: TestBackendOptions): Promise<TestBackend> {
  const { name, port = 0, host = '127.0.0.1' } = options
  let script = options.script ?? []
  let loop = options.loop ?? false
  let next = 0
  const requests: RecordedRequest[] = []
  const sockets = new Set<net.Socket>()
  const timers = new Set<NodeJS.Timeout>()

  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    res.setHeader('x-backend', name)
    const method = req.method ?? 'GET'
    const url = req.url ?? '/'
    const record: RecordedRequest = { method, url, headers: req.headers, bodyBytes: 0, at: Date.now() }
    requests.push(record)
    const scripted = options.scriptPath === undefined || url.startsWith(options.scriptPath)
    const step = scripted ? stepAt(script, next++, loop) : undefined
    req.on('data', (chunk: Buffer) => {
      record.bodyBytes += chunk.length
    })
    req.once('end', () => {
      if (step === 'hang') return
      if (step === 'reset') return void req.socket.resetAndDestroy()
      if (step === 'reset-mid-body') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 1024 })
        return void res.write(Buffer.alloc(100, 'p'), () => req.socket.destroy())
      }
      if (step === undefined) return sendJson(res, 200, { backend: name, method, url, headers: req.headers })
      const s = typeof step === 'number' ? { status: step } : step
      const answer = (): void => sendJson(res, s.status, s.body ?? { backend: name, status: s.status, method, url }, s.headers)
      if (s.delayMs === undefined || s.delayMs <= 0) return answer()
      const timer = setTimeout(() => {
        timers.delete(timer)
        answer()
      }, s.delayMs)
      timers.add(timer)
      res.once('close', () => clearTimeout(timer))
    })
  })
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  const ws = attachWebSocketEcho(server, '/ws', undefined, { headers: { 'x-backend': name } })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const actualPort = (server.address() as AddressInfo).port
  const closeAllConnections = (): void => {
    for (const socket of sockets) socket.destroy()
    ws.destroyAll()
  }
  let closed: Promise<void> | undefined
  return {
    name,
    port: actualPort,
    url: `http://${host}:${actualPort}`,
    server,
    requests,
    count: (path?: string) => (path === undefined ? requests.length : requests.filter((r) => r.url.split('?')[0] === path).length),
    setScript: (steps, opts) => {
      script = steps
      loop = opts?.loop ?? loop
      next = 0
    },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer)
        server.close(() => resolve())
        closeAllConnections()
      })
      return closed
    },
    closeAllConnections,
  }
}
