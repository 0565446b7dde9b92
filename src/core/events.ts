import diagnostics from 'node:diagnostics_channel'

/**
 * Names of the diagnostics channels modules publish on. Only `observability/` (and tests) subscribe.
 * Publishing costs nothing when nobody subscribes: publishers check `channel.hasSubscribers` first.
 */
export const CHANNELS = {
  /** {@link HealthEvent}: an endpoint turned healthy or unhealthy (active checks). */
  health: 'lb:health',
  /** {@link EjectionEvent}: an endpoint was ejected or returned (passive checks). */
  ejection: 'lb:ejection',
  /** {@link CircuitEvent}: a circuit changed state. */
  circuit: 'lb:circuit',
  /** {@link DrainEvent}: an operator drained or enabled an endpoint. */
  drain: 'lb:drain',
  /** {@link RequestEvent}: one proxied request completed (success or not). */
  request: 'lb:request',
  /** {@link UpstreamErrorEvent}: an attempt to a backend failed. */
  upstreamError: 'lb:upstream-error',
  /** {@link RetryEvent}: a request is retried. */
  retry: 'lb:retry',
  /** {@link ProbeEvent}: one active health probe finished. */
  probe: 'lb:probe',
  /** {@link WebSocketEvent}: a tunnel opened or closed. */
  websocket: 'lb:websocket',
  /** {@link LifecycleEvent}: worker/primary lifecycle (started, draining, exited, replaced). */
  lifecycle: 'lb:lifecycle',
  /** {@link ConfigEvent}: configuration loaded or reload rejected. */
  config: 'lb:config',
  /** {@link DnsEvent}: one DNS lookup of a discovered backend name finished. */
  dns: 'lb:dns',
} as const

export interface HealthEvent { pool: string; endpoint: string; healthy: boolean; reason: string; at: number }
export interface EjectionEvent { pool: string; endpoint: string; ejected: boolean; untilMs?: number; reason: string }
export interface CircuitEvent { pool: string; endpoint: string; state: 'closed' | 'half-open' | 'open' }
export interface DrainEvent { pool: string; endpoint: string; draining: boolean }
export interface RequestEvent {
  requestId: string
  clientIp: string
  method: string
  host: string
  path: string
  route: string
  pool: string
  endpoint: string
  status: number
  bytesIn: number
  bytesOut: number
  /** Whole request duration, ms. */
  durationMs: number
  /** Time from the last try's dispatch to its response headers, ms (-1 when no backend answered). */
  upstreamMs: number
  retries: number
  /** Error code when the request failed, else ''. */
  error: string
  /** Decision trace, only for requests that asked for one with the admin token. */
  decision?: string | undefined
  /** Which code carried the last try to its backend (`fast`: own HTTP/1.1 connections; `general`: undici); undefined when none was sent. */
  forwardPath?: 'fast' | 'general' | undefined
}
export interface UpstreamErrorEvent {
  pool: string
  endpoint: string
  kind: 'connect' | 'reset' | 'timeout' | 'protocol' | 'upstream-tls'
  requestId: string
  /** The underlying error code when it says more than the kind (`upstream-tls`: `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, ...). */
  detail?: string | undefined
}
export interface RetryEvent { pool: string; endpoint: string; reason: string; requestId: string }
export interface ProbeEvent { pool: string; endpoint: string; result: 'success' | 'failure'; status?: number; error?: string }
export interface WebSocketEvent { pool: string; endpoint: string; open: boolean }
export interface LifecycleEvent { what: string; pid: number; detail?: string }
/**
 * A DNS lookup of a discovered backend (`name`: host or SRV name). `changed`: the set of endpoints differs
 * from the last one; `everResolved`: on a failure, whether the name ever resolved (false: its endpoints
 * are missing, and a pool without others answers 503).
 */
export interface DnsEvent { pool: string; name: string; result: 'success' | 'failure'; addresses?: number; changed?: boolean; error?: string; everResolved?: boolean }
export interface ConfigEvent { ok: boolean; file?: string; problems?: string[] }

export const healthChannel = diagnostics.channel(CHANNELS.health)
export const ejectionChannel = diagnostics.channel(CHANNELS.ejection)
export const circuitChannel = diagnostics.channel(CHANNELS.circuit)
export const drainChannel = diagnostics.channel(CHANNELS.drain)
export const requestChannel = diagnostics.channel(CHANNELS.request)
export const upstreamErrorChannel = diagnostics.channel(CHANNELS.upstreamError)
export const retryChannel = diagnostics.channel(CHANNELS.retry)
export const probeChannel = diagnostics.channel(CHANNELS.probe)
export const websocketChannel = diagnostics.channel(CHANNELS.websocket)
export const lifecycleChannel = diagnostics.channel(CHANNELS.lifecycle)
export const dnsChannel = diagnostics.channel(CHANNELS.dns)
