/**
 * Active health checks: one HTTP probe (or gRPC health check, `healthCheck.grpc`) per endpoint per interval, turned into healthy/unhealthy
 * transitions by {@link HealthThresholds}. Runs once per balancer instance (the primary), never per
 * worker; transitions leave through `onTransition`, and the cluster carries them to the workers (IPC, and the
 * state store across instances).
 *
 * Schedule per endpoint: the first probe starts at `start()`; the next one `interval + random() *
 * jitter * interval` ms after the previous probe *started* (as HAProxy's `inter`), or as soon as it
 * finished when it took longer: probes to one endpoint never overlap, and a backend that accepts
 * connections but never answers fails one probe per interval (the probe timeout defaults to at most the
 * interval), so it leaves rotation within `unhealthyThreshold` intervals (plus jitter) instead of
 * `unhealthyThreshold` times (interval + timeout). `interval` is `intervalMs` while healthy,
 * `unhealthyIntervalMs` while not.
 *
 * Endpoints that share an address (same URL and TLS server name: distinct ids in front of one backend,
 * as DNS names or a config listing `id`s do) share one schedule and one probe per interval; its outcome
 * is recorded for every one of them, each with its own thresholds and events. The probe is the same
 * request whichever id sends it, so N ids on one address cost one probe, not N (1 000 ids on 3 backends
 * cost 200 probes/s at a 5 s interval otherwise). Such a group runs at the unhealthy interval while any
 * of its endpoints is unhealthy.
 */
import http from 'node:http'
import { connect as connectHttp2 } from 'node:http2'
import https from 'node:https'
import type { ConnectionOptions } from 'node:tls'
import type { Clock, Endpoint, HealthEvent, HealthTransition, ProbeEvent } from '../../core/index.js'
import { healthChannel, probeChannel, systemClock, systemRandom } from '../../core/index.js'
import type { HealthCheckConfig, UpstreamTlsConfig } from '../../config/index.js'
import { UpstreamTls } from '../upstream-tls.js'
import { HealthThresholds } from './thresholds.js'
import { sendGrpcHealthProbe } from './grpc-probe.js'
import type { HealthChecker, ProbeOutcome, ProbeRequest } from './types.js'

/** `User-Agent` of every probe, so backends can leave probes out of their access logs. */
export const PROBE_USER_AGENT = 'lb-health-check'

/** Options of {@link ActiveHealthChecker}. */
export interface ActiveHealthCheckerOptions {
  /** Pool name, for events. */
  pool: string
  config: HealthCheckConfig
  /** Time source for `at` and `lastProbeAt` (timers themselves are real `setTimeout`s). */
  clock?: Clock | undefined
  /** Randomness for jitter, floats in [0, 1). */
  random?: (() => number) | undefined
  /** State of an endpoint before its thresholds are met (default true, like the pool's initial state). */
  initiallyHealthy?: boolean | undefined
  /** Protocol of the pool's backends: `h2c` / `h2` pools are probed over HTTP/2 (default http1). */
  protocol?: 'http1' | 'h2c' | 'h2' | undefined
  /** TLS settings of the pool (`upstreamTls`): https:// endpoints are probed with them (over HTTP/2 too). */
  upstreamTls?: UpstreamTlsConfig | undefined
}


/** What the checker knows about one endpoint. */
export interface ProbeSnapshot {
  id: string
  healthy: boolean
  /** HTTP status of the last probe; undefined when it got none (error, timeout) or none ran yet. */
  lastStatus: number | undefined
  /** `timeout`, an errno code (`ECONNREFUSED`) or a message; undefined when the last probe got a response. */
  lastError: string | undefined
  /** Clock ms when the last probe finished; undefined before the first one. */
  lastProbeAt: number | undefined
  /** Clock ms when the next probe is due; undefined while a probe is in flight or the checker is stopped. */
  nextProbeAt: number | undefined
}


interface Target {
  endpoint: Endpoint
  readonly thresholds: HealthThresholds
  /** The probe schedule this endpoint follows; undefined while stopped (or checks disabled). */
  group: ProbeGroup | undefined
  lastStatus: number | undefined
  lastError: string | undefined
  lastProbeAt: number | undefined
}

/** One probe schedule, shared by the endpoints of one address ({@link probeKey}). */
interface ProbeGroup {
  readonly key: string
  readonly url: URL
  readonly serverName: string | undefined
  readonly targets: Set<Target>
  /** Bumped when the group stops; callbacks of older probes then do nothing. */
  generation: number
  timer: NodeJS.Timeout | undefined
  request: ProbeRequest | undefined
  /** Resolves when the socket of the probe in flight is closed. */
  closing: Promise<void>
  nextProbeAt: number | undefined
  /** Clock ms when the probe in flight (or the last one) started. */
  startedAt: number
}

/** Endpoints with the same key get the same probe: URL and TLS server name. */
function probeKey(endpoint: Endpoint): string {
  return `${endpoint.url.href}\u0000${endpoint.serverName ?? ''}`
}

const DEFAULT_TIMEOUT_MS = 2_000

/**
 * Probes every endpoint of one pool over HTTP(S) and reports rise/fall transitions.
 * When `config.enabled` is false, `start()` registers endpoints as healthy and never probes.
 */
export class ActiveHealthChecker implements HealthChecker {
  readonly pool: string
  private readonly config: HealthCheckConfig
  private readonly clock: Clock
  private readonly random: () => number
  private readonly initiallyHealthy: boolean
  private readonly send: typeof sendProbe
  private readonly targets = new Map<string, Target>()
  private readonly groups = new Map<string, ProbeGroup>()
  private readonly listeners = new Set<(t: HealthTransition) => void>()
  private readonly upstreamTlsConfig: UpstreamTlsConfig | undefined
  /** Made with the first https:// probe (it watches the certificate files); closed by stop(). */
  private tls: UpstreamTls | undefined

  constructor(options: ActiveHealthCheckerOptions) {
    this.upstreamTlsConfig = options.upstreamTls
    this.pool = options.pool
    this.config = options.config
    this.clock = options.clock ?? systemClock
    this.random = options.random ?? systemRandom
    this.initiallyHealthy = options.initiallyHealthy ?? true
    // An HTTP/2-only backend (a gRPC server) answers an HTTP/1.1 probe by closing the connection.
    // The gRPC health protocol is HTTP/2 whatever the pool's protocol.
    this.send = options.config.grpc !== undefined
      ? (url, config, tls, settle, closed) => sendGrpcHealthProbe(url, config, tls, PROBE_USER_AGENT, settle, closed)
      : options.protocol === 'h2c' || options.protocol === 'h2' ? sendHttp2Probe : sendProbe
  }

  /** See {@link HealthChecker.start}. A survivor whose URL changed keeps its state; the next probe uses the new URL. */
  start(endpoints: readonly Endpoint[]): void {
    const wanted = new Set(endpoints.map((e) => e.id))
    for (const [id, target] of this.targets) {
      if (!wanted.has(id)) {
        this.detach(target)
        this.targets.delete(id)
      }
    }
    for (const endpoint of endpoints) {
      let target = this.targets.get(endpoint.id)
      if (target === undefined) {
        target = this.newTarget(endpoint)
        this.targets.set(endpoint.id, target)
      }
      target.endpoint = endpoint
      if (!this.config.enabled) continue
      const key = probeKey(endpoint)
      if (target.group?.key === key) continue
      this.detach(target)
      this.attach(target, key)
    }
  }

  /** See {@link HealthChecker.stop}. States are kept: a later `start()` resumes from them. */
  async stop(): Promise<void> {
    const closing: Promise<void>[] = []
    for (const group of this.groups.values()) {
      closing.push(group.closing)
      this.retire(group)
    }
    this.groups.clear()
    for (const target of this.targets.values()) target.group = undefined
    this.tls?.close()
    this.tls = undefined
    await Promise.all(closing)
  }

  /** See {@link HealthChecker.onTransition}. Listeners run synchronously and must not throw. */
  onTransition(listener: (t: HealthTransition) => void): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  /** Current state of one endpoint; false for an id this checker does not know. */
  isHealthy(id: string): boolean {
    return this.targets.get(id)?.thresholds.healthy ?? false
  }

  /** One entry per known endpoint, in `start()` order. */
  snapshot(): ProbeSnapshot[] {
    return [...this.targets.values()].map((t) => ({
      id: t.endpoint.id,
      healthy: t.thresholds.healthy,
      lastStatus: t.lastStatus,
      lastError: t.lastError,
      lastProbeAt: t.lastProbeAt,
      nextProbeAt: t.group?.nextProbeAt,
    }))
  }

  private newTarget(endpoint: Endpoint): Target {
    const c = this.config
    return {
      endpoint,
      thresholds: new HealthThresholds(c.healthyThreshold, c.unhealthyThreshold, this.initiallyHealthy),
      group: undefined,
      lastStatus: undefined,
      lastError: undefined,
      lastProbeAt: undefined,
    }
  }

  /** Joins the schedule of `key`'s address, starting it (a probe now) when this is its first endpoint. */
  private attach(target: Target, key: string): void {
    let group = this.groups.get(key)
    if (group === undefined) {
      group = {
        key,
        url: target.endpoint.url,
        serverName: target.endpoint.serverName,
        targets: new Set(),
        generation: 0,
        timer: undefined,
        request: undefined,
        closing: Promise.resolve(),
        nextProbeAt: undefined,
        startedAt: 0,
      }
      this.groups.set(key, group)
      group.targets.add(target)
      target.group = group
      this.probe(group)
      return
    }
    group.targets.add(target)
    target.group = group
  }

  /** Leaves the target's schedule; the last endpoint to leave stops it. */
  private detach(target: Target): void {
    const group = target.group
    if (group === undefined) return
    target.group = undefined
    group.targets.delete(target)
    if (group.targets.size > 0) return
    this.retire(group)
    this.groups.delete(group.key)
  }

  /** Stops one schedule and aborts its probe in flight (whose result is then ignored). */
  private retire(group: ProbeGroup): void {
    group.generation++
    clearTimeout(group.timer)
    group.timer = undefined
    group.nextProbeAt = undefined
    group.request?.destroy()
    group.request = undefined
  }

  private probe(group: ProbeGroup): void {
    group.timer = undefined
    group.nextProbeAt = undefined
    group.startedAt = this.clock.now()
    const generation = group.generation
    let closed!: () => void
    group.closing = new Promise((resolve) => (closed = resolve))
    const url = group.url
    let tlsOptions: ConnectionOptions | undefined
    if (url.protocol === 'https:') {
      try {
        tlsOptions = (this.tls ??= new UpstreamTls(this.upstreamTlsConfig, { pool: this.pool })).connectionOptions(url, group.serverName)
      } catch (err) {
        // Unreadable certificate files: the probe fails with the reason (never a crash of the prober).
        tlsOptions = { ca: [], rejectUnauthorized: true }
        process.stderr.write(`lb: ${err instanceof Error ? err.message : String(err)}\n`)
      }
    }
    const request = this.send(url, this.config, tlsOptions, (outcome) => {
      if (generation !== group.generation) return
      // Copied: a transition listener may reconfigure the checker (and so the group) synchronously.
      for (const target of [...group.targets]) if (target.group === group) this.record(target, outcome)
    }, () => {
      closed()
      if (generation !== group.generation) return
      group.request = undefined
      this.schedule(group)
    })
    // sendProbe may have finished synchronously (invalid request options): keep only a live request.
    if (request !== undefined && !request.destroyed) group.request = request
  }

  private schedule(group: ProbeGroup): void {
    const c = this.config
    const healthyMs = Math.max(1, c.intervalMs)
    let allHealthy = true
    for (const t of group.targets) allHealthy &&= t.thresholds.healthy
    const baseMs = allHealthy || !(c.unhealthyIntervalMs > 0) ? healthyMs : c.unhealthyIntervalMs
    const jitter = Math.min(Math.max(c.jitter, 0), 1) || 0
    const now = this.clock.now()
    // Counted from the start of the probe that just finished: a slow or timed-out probe does not
    // stretch the schedule (at least 0: never two probes at once).
    const delayMs = Math.max(0, baseMs + this.random() * jitter * baseMs - (now - group.startedAt))
    group.nextProbeAt = now + delayMs
    group.timer = setTimeout(() => this.probe(group), delayMs)
    group.timer.unref()
  }

  private record(target: Target, outcome: ProbeOutcome): void {
    const now = this.clock.now()
    const id = target.endpoint.id
    target.lastProbeAt = now
    target.lastStatus = outcome.status
    target.lastError = outcome.error
    if (probeChannel.hasSubscribers) {
      const event: ProbeEvent = { pool: this.pool, endpoint: id, result: outcome.success ? 'success' : 'failure' }
      if (outcome.status !== undefined) event.status = outcome.status
      if (outcome.error !== undefined) event.error = outcome.error
      probeChannel.publish(event)
    }
    if (!target.thresholds.observe(outcome.success)) return
    const transition: HealthTransition = { id, healthy: target.thresholds.healthy, reason: outcome.reason, at: now }
    if (healthChannel.hasSubscribers) {
      const event: HealthEvent = { pool: this.pool, endpoint: id, healthy: transition.healthy, reason: transition.reason, at: now }
      healthChannel.publish(event)
    }
    for (const listener of [...this.listeners]) listener(transition)
  }
}

/**
 * Sends one probe. `settle` runs once with the outcome (at the response headers, on error or at the
 * timeout); `closed` runs once when the socket is gone (the body is drained and discarded; the
 * timeout also bounds a body that never ends). Returns the request, or undefined when it could not
 * even be created (then both callbacks have already run).
 */
function sendProbe(url: URL, config: HealthCheckConfig, tlsOptions: ConnectionOptions | undefined, settle: (o: ProbeOutcome) => void, closed: () => void): ProbeRequest | undefined {
  let settled = false
  const once = (o: ProbeOutcome): void => {
    if (settled) return
    settled = true
    settle(o)
  }
  let request: http.ClientRequest
  try {
    request = (url.protocol === 'https:' ? https : http).request({
      ...tlsOptions,
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port,
      path: config.path,
      method: config.method,
      agent: false,
      headers: { host: url.host, 'user-agent': PROBE_USER_AGENT, connection: 'close', accept: '*/*' },
    })
  } catch (err) {
    once(failure(err))
    closed()
    return undefined
  }
  const timer = setTimeout(() => {
    once({ success: false, error: 'timeout', reason: 'timeout' })
    request.destroy()
  }, config.timeoutMs > 0 ? config.timeoutMs : DEFAULT_TIMEOUT_MS)
  timer.unref()
  request.on('response', (response) => {
    const status = response.statusCode ?? 0
    once({ success: isExpectedStatus(status, config.expectedStatuses), status, reason: `status ${status}` })
    response.on('error', () => undefined) // an abort after the status is known changes nothing
    response.resume()
  })
  request.on('error', (err) => once(failure(err)))
  request.on('close', () => {
    clearTimeout(timer)
    closed()
  })
  request.end()
  return request
}

/**
 * {@link sendProbe} over HTTP/2 (prior knowledge for `http:`, ALPN h2 for `https:`): one session per
 * probe, closed after the response headers, as the HTTP/1.1 probe sends `Connection: close`.
 */
function sendHttp2Probe(url: URL, config: HealthCheckConfig, tlsOptions: ConnectionOptions | undefined, settle: (o: ProbeOutcome) => void, closed: () => void): ProbeRequest {
  let settled = false
  const once = (o: ProbeOutcome): void => {
    if (settled) return
    settled = true
    settle(o)
  }
  // `https:`: the pool's upstreamTls (CA, client certificate, server name, verification), as over HTTP/1.1.
  const session = connectHttp2(url.origin, tlsOptions)
  const timer = setTimeout(() => {
    once({ success: false, error: 'timeout', reason: 'timeout' })
    session.destroy()
  }, config.timeoutMs > 0 ? config.timeoutMs : DEFAULT_TIMEOUT_MS)
  timer.unref()
  session.on('error', (err) => once(failure(err)))
  session.once('close', () => {
    clearTimeout(timer)
    once({ success: false, error: 'ECONNRESET', reason: 'ECONNRESET' })
    closed()
  })
  const stream = session.request({ ':method': config.method, ':path': config.path, 'user-agent': PROBE_USER_AGENT, accept: '*/*' }, { endStream: true })
  stream.on('response', (headers) => {
    const status = Number(headers[':status'])
    once({ success: isExpectedStatus(status, config.expectedStatuses), status, reason: `status ${status}` })
    session.close()
  })
  stream.on('error', (err) => once(failure(err)))
  stream.resume()
  stream.once('close', () => session.close())
  return session
}

/** True when `status` falls in one of the inclusive ranges; an empty list means "below 500". */
export function isExpectedStatus(status: number, ranges: readonly (readonly [number, number])[]): boolean {
  if (ranges.length === 0) return status >= 100 && status < 500
  return ranges.some(([low, high]) => status >= low && status <= high)
}

function failure(err: unknown): ProbeOutcome {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const error = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)
  return { success: false, error, reason: error }
}
