/**
 * The metrics listener (`metrics: { host, port }`, env `METRICS_PORT`): a second, minimal HTTP server in
 * the primary that answers `GET /metrics` (and `HEAD`) with the same aggregated exposition as the admin
 * server, without a token, and nothing else. It exists so that a Prometheus beyond loopback can scrape
 * the balancer while the admin API (which can drain and remove backends) stays on loopback or behind
 * its token.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { Registry } from 'prom-client'
import { listenOn } from './listen.js'

/** Options of {@link MetricsServer}. */
export interface MetricsServerOptions {
  host: string
  port: number
  /** The Prometheus text of every worker plus the primary (the admin server's `metricsText`). */
  metricsText: () => Promise<string>
}

/** The metrics-only HTTP server. {@link MetricsServer.start} listens; {@link MetricsServer.close} stops it. */
export class MetricsServer {
  readonly server: http.Server

  constructor(private readonly options: MetricsServerOptions) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) reply(res, 500, `internal error: ${err instanceof Error ? err.message : String(err)}\n`)
        else res.destroy()
      })
    })
    this.server.headersTimeout = 10_000
    this.server.requestTimeout = 30_000
  }

  /** Listens; rejects when the address is taken. */
  async start(): Promise<void> {
    await listenOn(this.server, this.options.port, this.options.host)
  }

  /** The bound port. */
  port(): number {
    const a = this.server.address()
    return typeof a === 'object' && a !== null ? a.port : 0
  }

  /** `http://host:port/metrics`. */
  url(): string {
    const h = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host
    return `http://${h === '0.0.0.0' || h === '[::]' ? '127.0.0.1' : h}:${this.port()}/metrics`
  }

  /** Closes the server and every open scrape connection. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('cache-control', 'no-store')
    res.setHeader('x-content-type-options', 'nosniff')
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics') return reply(res, 404, 'not found: this listener serves only GET /metrics\n')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return reply(res, 405, 'method not allowed: use GET\n')
    }
    const text = await this.options.metricsText()
    res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) })
    res.end(req.method === 'HEAD' ? undefined : text)
  }
}

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(res.req.method === 'HEAD' ? undefined : text)
}
