/** Network helpers for tests: free ports, raw requests over TCP, polling, and a small HTTP client. All on 127.0.0.1. */
import http from 'node:http'
import net from 'node:net'

/** Returns a port that was free a moment ago on 127.0.0.1 (listen on 0, read the port, close). */
export async function getFreePort(): Promise<number> {
  return (await getFreePorts(1))[0] as number
}

/** Ports this process has handed out: never handed out again (a test may hold one closed on purpose). */
const handedOut = new Set<number>()

/**
 * `n` different TCP ports that were free a moment ago on 127.0.0.1, none handed out before in this
 * process. The OS gives the same free port to consecutive asks once the first asker has closed it, so
 * a listener, an admin port and a "closed" port chosen one after the other could otherwise coincide.
 */
export async function getFreePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = []
  const ports: number[] = []
  try {
    while (ports.length < n) {
      const server = net.createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', () => resolve())
      })
      const { port } = server.address() as net.AddressInfo
      if (handedOut.has(port)) continue // held open until the end, so the next ask gets another
      handedOut.add(port)
      ports.push(port)
    }
    return ports
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))))
  }
}

/** Result of {@link rawRequest}. */
export interface RawResponse {
  /** Everything the server sent, decoded as latin1 (bytes preserved one to one). */
  raw: string
  /** Status of the first final (non-1xx) response; undefined when none arrived. */
  status?: number
  /** True when the server closed (or reset) the connection before the settle timeout. */
  closed: boolean
  /** Error code when the connection failed or was reset (`ECONNRESET`, ...). */
  error?: string
}

/** Options of {@link rawRequest}. */
export interface RawRequestOptions {
  /** How long to wait for the server to close after the first complete response; default 300 ms. */
  timeoutMs?: number
  /** Overall deadline; default 10 000 ms. */
  deadlineMs?: number
  host?: string
}

/**
 * Byte offset just past the first complete final response in `buf`, or -1 when it is not complete yet
 * (or is delimited by the connection close). Skips 1xx interim responses.
 */
export function completeResponseEnd(buf: Buffer): { end: number; status?: number } {
  let start = 0
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n', start)
    if (headEnd < 0) return { end: -1 }
    const head = buf.subarray(start, headEnd).toString('latin1')
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1])
    const bodyStart = headEnd + 4
    if (!Number.isFinite(status)) return { end: -1 }
    if (status >= 100 && status < 200 && status !== 101) {
      start = bodyStart
      continue
    }
    if (status === 101 || status === 204 || status === 304) return { end: bodyStart, status }
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1]
    if (length !== undefined) {
      const end = bodyStart + Number(length)
      return { end: buf.length >= end ? end : -1, status }
    }
    if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
      const last = buf.indexOf('0\r\n\r\n', bodyStart)
      const ok = last === bodyStart || (last > bodyStart && buf.subarray(last - 2, last).toString() === '\r\n')
      return { end: ok ? last + 5 : -1, status }
    }
    return { end: -1, status }
  }
}

/**
 * Sends `rawBytes` as-is over a TCP socket to 127.0.0.1:`port` and collects everything the server sends until
 * it closes the connection, or `timeoutMs` after the first complete response (then `closed` is false), or the
 * overall deadline. Never rejects for network errors: they show up as `closed: true` and `error`.
 */
export function rawRequest(port: number, rawBytes: string | Buffer, options: RawRequestOptions = {}): Promise<RawResponse> {
  const { timeoutMs = 300, deadlineMs = 10_000, host = '127.0.0.1' } = options
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let settleTimer: NodeJS.Timeout | undefined
    let done = false
    const socket = net.connect(port, host)
    const finish = (closed: boolean, error?: string): void => {
      if (done) return
      done = true
      clearTimeout(settleTimer)
      clearTimeout(deadline)
      socket.destroy()
      const buf = Buffer.concat(chunks)
      const { status } = completeResponseEnd(buf)
      resolve({ raw: buf.toString('latin1'), closed, ...(status !== undefined && { status }), ...(error !== undefined && { error }) })
    }
    const deadline = setTimeout(() => finish(false), deadlineMs)
    socket.on('connect', () => socket.write(rawBytes))
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if (settleTimer === undefined && completeResponseEnd(Buffer.concat(chunks)).end >= 0) {
        settleTimer = setTimeout(() => finish(false), timeoutMs)
      }
    })
    socket.on('end', () => finish(true))
    socket.on('close', () => finish(true))
    socket.on('error', (err: NodeJS.ErrnoException) => finish(true, err.code ?? err.message))
  })
}

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Default 5000 ms. */
  timeoutMs?: number
  /** Default 20 ms. */
  intervalMs?: number
  /** Included in the timeout error. */
  message?: string
}

/**
 * Polls `predicate` until it returns a truthy value (which is returned), or rejects after `timeoutMs`.
 * A predicate that throws is treated as "not yet"; the last error is attached as the timeout's `cause`.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, options: WaitForOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 5000, intervalMs = 20, message = 'condition' } = options
  const deadline = performance.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await predicate()
      if (value) return value as NonNullable<T>
    } catch (err) {
      lastError = err
    }
    if (performance.now() >= deadline) {
      throw new Error(`waitFor: ${message} not met within ${timeoutMs} ms`, lastError === undefined ? undefined : { cause: lastError })
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

/** A buffered HTTP response. */
export interface HttpResult {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** Options of {@link httpRequest}. */
export interface HttpRequestOptions {
  method?: string
  headers?: Record<string, string | string[]>
  body?: string | Buffer
  /** An `http.Agent` (e.g. `new http.Agent({ keepAlive: true })`) to reuse connections; default: a new connection. */
  agent?: http.Agent | false
  /** Default 10 000 ms; rejects on timeout. */
  timeoutMs?: number
}

/** Sends one request via `node:http` and buffers the response body as UTF-8. Rejects on network errors. */
export function httpRequest(url: string | URL, options: HttpRequestOptions = {}): Promise<HttpResult> {
  const { method = 'GET', headers = {}, body, agent = false, timeoutMs = 10_000 } = options
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`request to ${String(url)} timed out after ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** `GET url` via {@link httpRequest}; pass a keep-alive `agent` to reuse connections. */
export function httpGet(
  url: string | URL,
  headers: Record<string, string | string[]> = {},
  options: Omit<HttpRequestOptions, 'method' | 'headers' | 'body'> = {},
): Promise<HttpResult> {
  return httpRequest(url, { ...options, headers })
}
