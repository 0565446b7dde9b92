/**
 * The admin server (primary process only, never in the proxy workers): health and readiness probes,
 * Prometheus metrics of all workers, the live dashboard (Server-Sent Events) and the JSON API.
 *
 * Host check: only loopback names, the configured host and `admin.allowedHosts` are served (421
 * otherwise; DNS rebinding), probes excepted.
 *
 * Authentication: a bearer token for every mutating call; beyond loopback, for every call except
 * `/healthz` and `/readyz` (read-only calls there also accept HTTP Basic with the token as password,
 * so a browser can open the dashboard). A non-loopback server without a token refuses to start.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { ERROR_CODES, FailureThrottle, LbError } from '../core/index.js'
import { AggregatorRegistry, Registry } from 'prom-client'
import { ClusterMetricsCollector, PrimaryMetrics, StatsTracker, type DashboardSnapshot, type InstanceStatsExchange, type MetricsJson } from '../observability/index.js'
import { AdminApi, type ApiResponse, type FleetControl, type ReloadResult } from './api.js'
import { hasBasicToken, hasBearerToken, isLoopbackHost } from './auth.js'
import { createHostCheck } from './host-check.js'
import { isDashboardPath, serveDashboard } from './dashboard/assets.js'
import { listenOn } from './listen.js'

/** Options of {@link AdminServer}. */
export interface AdminServerOptions {
  host: string
  port: number
  /** Required for mutating calls, and for every call beyond loopback. */
  token: string
  /** Host names served besides loopback names and `host` (`admin.allowedHosts`); others get 421. */
  allowedHosts?: readonly string[] | undefined
  fleet: FleetControl
  /** Live proxy workers. */
  workers: () => number
  /** True once the workers listen and until draining starts. */
  isReady: () => boolean
  /** Reloads the configuration; undefined = not supported (POST /api/reload answers 501). */
  reload?: (() => Promise<ReloadResult>) | undefined
  stateStoreUp?: () => boolean
  /**
   * With a global state store: shares the dashboard's totals with the other instances, so that every
   * instance's dashboard shows the whole fleet.
   */
  instanceStats?: InstanceStatsExchange | undefined
  /** Dashboard refresh period, ms (default 1000). */
  tickMs?: number
  /** Concurrent `/api/events` streams at most (default 32); one more gets 503. */
  maxEventClients?: number
  /** Bytes a stream may have queued for a client that does not read (default 1 MiB); past it, the stream is closed. */
  maxEventBufferBytes?: number
}

const MAX_BODY_BYTES = 64 * 1024
const JSON_TYPE = 'application/json; charset=utf-8'

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

/** The admin HTTP server. {@link AdminServer.start} listens; {@link AdminServer.close} stops everything. */
export class AdminServer {
  readonly server: http.Server
  private readonly api: AdminApi
  private readonly collector = new ClusterMetricsCollector(1000)
  private readonly primaryMetrics: PrimaryMetrics
  private readonly stats = new StatsTracker()
  private readonly clients = new Set<ServerResponse>()
  private latest: DashboardSnapshot | undefined
  private ticker: NodeJS.Timeout | undefined
  private ticking = false
  private readonly loopback: boolean
  private readonly isAllowedHost: (host: string | undefined) => boolean
  /** Wrong tokens per client address: past the limit, 429 without comparing (no guessing oracle). */
  private readonly authFailures = new FailureThrottle()

  constructor(private readonly options: AdminServerOptions) {
    this.loopback = isLoopbackHost(options.host)
    if (!this.loopback && options.token === '') {
      throw new Error(`admin.host ${options.host} is not a loopback address: refusing to start the admin server without a token (set admin.token or LB_ADMIN_TOKEN, or use admin.host 127.0.0.1)`)
    }
    this.isAllowedHost = createHostCheck(options.host, options.allowedHosts)
    this.api = new AdminApi(options.fleet, options.reload)
    this.primaryMetrics = new PrimaryMetrics({ pools: () => options.fleet.pools(), workers: options.workers, stateStoreUp: options.stateStoreUp })
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // An LbError carries its status (the store being unreachable is a 503, not a bug).
        const status = err instanceof HttpError ? err.status : err instanceof LbError ? ERROR_CODES[err.code].status : 500
        const message = err instanceof Error ? err.message : String(err)
        if (!res.headersSent) this.json(res, status, { error: status === 500 ? `internal error: ${message}` : message })
        else res.destroy()
      })
    })
    this.server.headersTimeout = 10_000
    this.server.requestTimeout = 30_000
  }

  /** Listens; rejects when the port is taken. Starts the dashboard ticker. */
  async start(): Promise<void> {
    await listenOn(this.server, this.options.port, this.options.host)
    this.ticker = setInterval(() => void this.tick(), this.options.tickMs ?? 1000)
    this.ticker.unref()
  }

  /** The bound port. */
  port(): number {
    const a = this.server.address()
    return typeof a === 'object' && a !== null ? a.port : 0
  }

  /** `http://host:port` of the server. */
  url(): string {
    const h = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host
    return `http://${h === '0.0.0.0' || h === '[::]' ? '127.0.0.1' : h}:${this.port()}`
  }

  /** Stops the ticker, ends the event streams and closes the server. */
  async close(): Promise<void> {
    clearInterval(this.ticker)
    await this.options.instanceStats?.close()
    for (const c of this.clients) c.end()
    this.clients.clear()
    this.collector.close()
    this.primaryMetrics.close()
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  /** The summed Prometheus exposition of every worker plus the primary's own metrics. */
  async metricsText(): Promise<string> {
    // The primary's process metrics share their names with the workers': one family each, so merged.
    const own = (await this.primaryMetrics.processRegistry.getMetricsAsJSON()) as MetricsJson
    const merged = AggregatorRegistry.aggregate([...(await this.collector.gather()), own]) as Registry
    return (await merged.metrics()) + (await this.primaryMetrics.registry.metrics())
  }

  /** Takes one dashboard snapshot and sends it to every connected dashboard. */
  private async tick(): Promise<void> {
    if (this.ticking) return
    this.ticking = true
    try {
      const own = await this.collector.gatherTotals()
      let totals = own
      let instances = 1
      const shared = this.options.instanceStats
      if (shared !== undefined) {
        const all = shared.exchange(own)
        this.stats.rebase(all.joined)
        totals = all.totals
        instances = all.instances
      }
      this.latest = this.stats.update(Date.now(), totals, this.options.fleet.pools(), { workers: this.options.workers(), ready: this.options.isReady(), instances })
      if (this.clients.size > 0) {
        const frame = `data: ${JSON.stringify(this.latest)}\n\n`
        const maxBuffered = this.options.maxEventBufferBytes ?? 1024 * 1024
        for (const c of this.clients) {
          // A client that stopped reading would make us buffer every frame forever: close it instead
          // (EventSource reconnects by itself once it reads again).
          if (c.writableLength > maxBuffered) {
            this.clients.delete(c)
            c.destroy()
            continue
          }
          c.write(frame)
        }
      }
    } finally {
      this.ticking = false
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin')
    const path = url.pathname
    const method = req.method ?? 'GET'
    res.setHeader('cache-control', 'no-store')
    res.setHeader('x-content-type-options', 'nosniff')

    if (path === '/healthz') return this.only(req, res, ['GET', 'HEAD'], () => this.json(res, 200, { status: 'ok' }))
    if (path === '/readyz') {
      return this.only(req, res, ['GET', 'HEAD'], () => {
        const ready = this.options.isReady()
        this.json(res, ready ? 200 : 503, { ready, workers: this.options.workers() })
      })
    }

    // After the probes on purpose: orchestrators probe by IP or by a service name the balancer cannot
    // know, and the probes reveal nothing a rebinding page could use.
    if (!this.isAllowedHost(req.headers.host)) {
      return this.json(res, 421, { error: `Host "${req.headers.host ?? ''}" is not a name of this admin server: add it to admin.allowedHosts` })
    }

    const mutating = method !== 'GET' && method !== 'HEAD'
    const auth = req.headers.authorization
    const token = this.options.token
    if (mutating || !this.loopback) {
      const client = req.socket.remoteAddress ?? ''
      const waitMs = this.authFailures.retryAfterMs(client)
      if (waitMs > 0) {
        res.setHeader('retry-after', String(Math.ceil(waitMs / 1000)))
        return this.json(res, 429, { error: 'too many wrong admin tokens from this address; retry later' })
      }
      const ok = hasBearerToken(auth, token) || (!mutating && hasBasicToken(auth, token))
      if (!ok) {
        // A missing token is no guess (a browser's first try, a forgotten header); a wrong one is.
        if (auth !== undefined) this.authFailures.fail(client)
        // A browser opening the dashboard beyond loopback gets the Basic prompt (password = token).
        if (!mutating && !this.loopback) res.setHeader('www-authenticate', 'Basic realm="lb admin", charset="UTF-8"')
        else res.setHeader('www-authenticate', 'Bearer realm="lb admin"')
        return this.json(res, 401, { error: auth === undefined ? 'missing admin token: send Authorization: Bearer <token>' : 'invalid admin token' })
      }
    }

    if (isDashboardPath(path)) return this.only(req, res, ['GET', 'HEAD'], () => serveDashboard(req, res, url))
    if (path === '/metrics') {
      return this.only(req, res, ['GET', 'HEAD'], async () => {
        const text = await this.metricsText()
        res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE })
        res.end(method === 'HEAD' ? undefined : text)
      })
    }
    if (path === '/api/events') return this.only(req, res, ['GET'], () => this.openEvents(req, res))
    if (path === '/api/stats') {
      return this.only(req, res, ['GET'], async () => {
        if (this.latest === undefined) await this.tick()
        this.json(res, 200, this.latest ?? {})
      })
    }
    if (path === '/api/reload') return this.only(req, res, ['POST'], async () => this.send(res, await this.api.reloadConfig()))
    if (path === '/api/pools') return this.only(req, res, ['GET'], () => this.send(res, this.api.listPools()))

    const parts = path.split('/').slice(1).map(decodeSegment) // ['api', 'pools', pool, 'backends', id, action]
    if (parts[0] !== 'api' || parts[1] !== 'pools' || parts[2] === undefined || parts[2] === '') return this.json(res, 404, { error: `no such admin route: ${path}` })
    const pool = parts[2]
    if (parts.length === 3) return this.only(req, res, ['GET'], () => this.send(res, this.api.getPool(pool)))
    if (parts[3] !== 'backends') return this.json(res, 404, { error: `no such admin route: ${path}` })
    if (parts.length === 4) return this.only(req, res, ['POST'], async () => this.send(res, await this.api.addEndpoint(pool, await readJson(req))))
    const id = parts[4] ?? ''
    if (parts.length === 5) {
      return this.only(req, res, ['GET', 'DELETE', 'PATCH'], async () => {
        if (method === 'GET') return this.send(res, this.api.getEndpoint(pool, id))
        if (method === 'DELETE') return this.send(res, await this.api.removeEndpoint(pool, id))
        return this.send(res, await this.api.patchEndpoint(pool, id, await readJson(req)))
      })
    }
    if (parts.length === 6 && (parts[5] === 'drain' || parts[5] === 'enable')) {
      const drained = parts[5] === 'drain'
      return this.only(req, res, ['POST'], async () => this.send(res, await this.api.setDrained(pool, id, drained)))
    }
    return this.json(res, 404, { error: `no such admin route: ${path}` })
  }

  /** Runs `fn` when the method is allowed, else 405 with `Allow`. */
  private async only(req: IncomingMessage, res: ServerResponse, methods: string[], fn: () => void | Promise<void>): Promise<void> {
    if (!methods.includes(req.method ?? '')) {
      res.setHeader('allow', methods.join(', '))
      return this.json(res, 405, { error: `method ${req.method ?? ''} not allowed here; use ${methods.join(' or ')}` })
    }
    await fn()
  }

  /** Dashboard event streams open now. */
  get eventClients(): number {
    return this.clients.size
  }

  private openEvents(req: IncomingMessage, res: ServerResponse): void {
    if (this.clients.size >= (this.options.maxEventClients ?? 32)) {
      res.setHeader('retry-after', '5')
      return this.json(res, 503, { error: `too many dashboard event streams open (${this.clients.size}); retry later` })
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    res.write(`retry: 2000\nevent: history\ndata: ${JSON.stringify(this.stats.points())}\n\n`)
    if (this.latest !== undefined) res.write(`data: ${JSON.stringify(this.latest)}\n\n`)
    this.clients.add(res)
    req.socket.setTimeout(0)
    const drop = (): void => void this.clients.delete(res)
    res.once('close', drop)
  }

  private send(res: ServerResponse, r: ApiResponse): void {
    this.json(res, r.status, r.body)
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text) })
    res.end(res.req.method === 'HEAD' ? undefined : text)
  }
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    throw new HttpError(400, `bad percent-encoding in the path: ${s}`)
  }
}

/** Reads a JSON body (at most 64 KiB); undefined when empty; 400 for bad JSON, 413 when too large. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8').trim()
  if (text === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new HttpError(400, `invalid JSON body: ${err instanceof Error ? err.message : String(err)}`)
  }
}
