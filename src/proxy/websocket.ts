import { randomUUID } from 'node:crypto'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { websocketChannel } from '../core/index.js'
import type { UpstreamPool } from '../upstream/index.js'
import { writeRawError } from './error-response.js'
import { appendForwardedHeaders, copyRequestHeaders } from './headers.js'
import { stripMapped } from './client-address.js'
import { checkRequest } from './request-guard.js'
import { rewritePath } from './router.js'
import { ENCODED_SLASH_MESSAGE, resolveTarget } from './path-normalize.js'
import type { ProxyRuntime } from './handler.js'
import type { ClientRequest } from './client-message.js'
import { hashKeyFor } from './hash-key.js'

/** An upgrade request: the plain request's fields and the two headers read by name. */
type UpgradeRequest = ClientRequest & { readonly headers: { readonly upgrade?: string | undefined; readonly host?: string | undefined } }

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EADDRNOTAVAIL'])

/**
 * Tunnels `Upgrade` requests (WebSocket and others) to an endpoint chosen by the same route and
 * pool rules as plain requests. The tunnel opens only after the backend answers 101; any other
 * answer is relayed as an ordinary response and the connection closed. `Upgrade: h2c` is refused:
 * tunnelling it would let a client speak HTTP/2 past every rule of the balancer (h2c smuggling).
 */
export function createUpgradeHandler(runtime: ProxyRuntime, proto: 'http' | 'https'): (req: UpgradeRequest, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    socket.on('error', () => socket.destroy())
    const ctx = runtime.context
    const requestId = randomUUID()
    const problem = checkRequest(req, ctx.limits)
    if (problem !== undefined) return writeRawError(socket, problem, requestId)
    const upgrade = (req.headers.upgrade ?? '').toLowerCase()
    if (upgrade.split(',').some((p) => p.trim() === 'h2c')) {
      return writeRawError(socket, 'LB_ERR_UPGRADE_REFUSED', requestId, 'h2c upgrade is not supported')
    }
    const url = resolveTarget(req.url ?? '/', ctx.paths)
    if (url === undefined) return writeRawError(socket, 'LB_ERR_BAD_REQUEST', requestId, ENCODED_SLASH_MESSAGE)
    const route = ctx.router.match(req.method ?? 'GET', req.headers.host ?? '', url.path, req.rawHeaders)
    const pool = route === undefined ? undefined : ctx.pools.get(route.pool)
    if (route === undefined || pool === undefined) return writeRawError(socket, 'LB_ERR_NO_ROUTE', requestId)
    const headers: string[] = []
    const facts = copyRequestHeaders(req.rawHeaders, headers, route.requestHeaders?.remove, true)
    const peer = stripMapped(req.socket.remoteAddress ?? '')
    const rid = facts.requestId !== '' ? facts.requestId : requestId
    appendForwardedHeaders(headers, facts, peer, proto, rid)
    if (route.requestHeaders !== undefined) for (const x of route.requestHeaders.append) headers.push(x)
    const hashKey = pool.config.algorithm === 'consistent-hash'
      ? hashKeyFor(pool.config.hashOn, req.rawHeaders, ctx.clientAddress.resolve(peer, facts.forwardedFor))
      : undefined
    const tunnel = new Tunnel(pool, socket, head, req.method ?? 'GET', rewritePath(route, route.stripPrefix === undefined && route.replacePath === undefined ? url.target : url.rewriteTarget), headers, rid, hashKey)
    tunnel.connect()
  }
}

/** One upgraded connection: tries endpoints until one is reached, then relays bytes both ways. */
class Tunnel {
  private readonly tried = new Set<string>()
  private tries = 0

  constructor(
    private readonly pool: UpstreamPool,
    private readonly client: Duplex,
    private readonly head: Buffer,
    private readonly method: string,
    private readonly path: string,
    private readonly headers: string[],
    private readonly requestId: string,
    private readonly hashKey: string | undefined,
  ) {}

  connect(): void {
    const state = this.pool.pick({ exclude: this.tried, hashKey: this.hashKey })
    if (state === undefined) {
      return writeRawError(this.client, this.tries === 0 ? 'LB_ERR_NO_BACKEND' : 'LB_ERR_CONNECT', this.requestId)
    }
    this.tries++
    this.tried.add(state.endpoint.id)
    const url = state.endpoint.url
    const upstream = httpRequest({
      host: url.hostname,
      port: url.port === '' ? 80 : Number(url.port),
      method: this.method,
      path: this.path,
      headers: this.headers,
      agent: false,
      timeout: this.pool.config.timeouts.connectMs,
    })
    let connected = false
    upstream.on('socket', (s) => s.once('connect', () => (connected = true)))
    upstream.on('timeout', () => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })))
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected && CONNECT_CODES.has(err.code ?? '') && this.tries < this.pool.config.retries.attempts && !this.client.destroyed) {
        this.connect() // nothing was sent: any endpoint may take it
        return
      }
      writeRawError(this.client, err.code === 'ETIMEDOUT' ? 'LB_ERR_UPSTREAM_TIMEOUT' : 'LB_ERR_CONNECT', this.requestId)
    })
    upstream.on('response', (res) => this.relayRefusal(res))
    upstream.on('upgrade', (res, socket, head) => this.open(res, socket, head, state.endpoint.id))
    this.client.once('close', () => upstream.destroy())
    upstream.end()
  }

  /** The backend did not switch protocols: pass its answer on, open no tunnel, close. */
  private relayRefusal(res: IncomingMessage): void {
    const lines = [`HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}`]
    const raw = res.rawHeaders
    for (let i = 0; i < raw.length; i += 2) {
      const lower = (raw[i] as string).toLowerCase()
      if (lower === 'connection' || lower === 'transfer-encoding' || lower === 'keep-alive' || lower === 'upgrade') continue
      lines.push(`${raw[i]}: ${raw[i + 1]}`)
    }
    lines.push(`X-Request-Id: ${this.requestId}`, 'Connection: close', '', '')
    this.client.write(lines.join('\r\n'))
    res.pipe(this.client)
  }

  private open(res: IncomingMessage, upstream: Duplex, upstreamHead: Buffer, endpoint: string): void {
    const client = this.client
    if (client.destroyed) {
      upstream.destroy()
      return
    }
    const lines = [`HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}`]
    const raw = res.rawHeaders
    for (let i = 0; i < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`)
    lines.push('', '')
    client.write(lines.join('\r\n'))
    if (upstreamHead.length > 0) client.write(upstreamHead)
    if (this.head.length > 0) upstream.write(this.head)
    upstream.on('error', () => client.destroy())
    upstream.on('close', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.pipe(client)
    client.pipe(upstream)
    const pool = this.pool.name
    if (websocketChannel.hasSubscribers) websocketChannel.publish({ pool, endpoint, open: true })
    client.once('close', () => {
      if (websocketChannel.hasSubscribers) websocketChannel.publish({ pool, endpoint, open: false })
    })
  }
}
