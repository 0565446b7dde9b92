/**
 * Lifecycle and error logs: JSON lines through `pino`, the same format as the access log
 * (`time` in ms since the epoch, `level` as a label, `msg`). The primary and every worker each have
 * one; workers add `worker: pid`.
 */
import diagnostics from 'node:diagnostics_channel'
import pino, { type Logger } from 'pino'
import { createPrettyStream } from './pretty.js'
import { CHANNELS, type CircuitEvent, type ConfigEvent, type DnsEvent, type DrainEvent, type EjectionEvent, type HealthEvent, type LifecycleEvent, type UpstreamErrorEvent } from '../core/index.js'

/** Shortest gap between two log lines about the same failing TLS endpoint and reason, ms. */
const TLS_LOG_INTERVAL_MS = 10_000

/** Log levels of the configuration (`log.level`). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

/** Options shared by the logs: level labels instead of numbers, no hostname. */
export const PINO_BASE_OPTIONS = {
  base: undefined,
  formatters: { level: (label: string) => ({ level: label }) },
} as const

/**
 * A pino logger to stdout (asynchronous destination), `bindings` on every line. `format: 'pretty'`
 * writes through pino-pretty when it is installed (else JSON, see `pretty.ts`).
 */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}, format: 'json' | 'pretty' = 'json'): Logger {
  const pretty = format === 'pretty' ? createPrettyStream(1) : undefined
  const logger = pino({ ...PINO_BASE_OPTIONS, level }, pretty ?? pino.destination({ dest: 1, sync: false }))
  return Object.keys(bindings).length > 0 ? logger.child(bindings) : logger
}

/**
 * Logs the events of `core/events.ts` that matter to an operator: lifecycle (info), health and
 * ejection changes (warn when something goes down, info when it comes back), circuit changes, drains,
 * configuration reloads, failed TLS handshakes with backends (warn, throttled per endpoint) and DNS discovery (a failing name once per streak). Returns a function that unsubscribes (and flushes).
 */
export function logEvents(logger: Logger): () => void {
  const tlsLogged = new Map<string, number>()
  const dnsFailing = new Set<string>()
  const subs: Array<[string, (m: unknown) => void]> = [
    [CHANNELS.lifecycle, (m) => {
      const e = m as LifecycleEvent
      logger.info({ event: 'lifecycle', what: e.what, pid: e.pid, detail: e.detail }, `${e.what} ${e.pid}`)
    }],
    [CHANNELS.health, (m) => {
      const e = m as HealthEvent
      logger[e.healthy ? 'info' : 'warn']({ event: 'health', pool: e.pool, endpoint: e.endpoint, healthy: e.healthy, reason: e.reason }, `${e.pool}/${e.endpoint} ${e.healthy ? 'healthy' : 'unhealthy'}`)
    }],
    [CHANNELS.ejection, (m) => {
      const e = m as EjectionEvent
      logger[e.ejected ? 'warn' : 'info']({ event: 'ejection', pool: e.pool, endpoint: e.endpoint, ejected: e.ejected, reason: e.reason }, `${e.pool}/${e.endpoint} ${e.ejected ? 'ejected' : 'returned'}`)
    }],
    [CHANNELS.circuit, (m) => {
      const e = m as CircuitEvent
      logger[e.state === 'open' ? 'warn' : 'info']({ event: 'circuit', pool: e.pool, endpoint: e.endpoint, state: e.state }, `${e.pool}/${e.endpoint} circuit ${e.state}`)
    }],
    [CHANNELS.drain, (m) => {
      const e = m as DrainEvent
      logger.info({ event: 'drain', pool: e.pool, endpoint: e.endpoint, draining: e.draining }, `${e.pool}/${e.endpoint} ${e.draining ? 'drained' : 'enabled'}`)
    }],
    [CHANNELS.upstreamError, (m) => {
      const e = m as UpstreamErrorEvent
      // TLS failures are configuration problems (CA, name, client certificate) an operator must see;
      // other kinds are counted in the metrics. At most one line per endpoint and reason per 10 s.
      if (e.kind !== 'upstream-tls') return
      const key = `${e.pool}/${e.endpoint}/${e.detail ?? ''}`
      const now = Date.now()
      if ((tlsLogged.get(key) ?? -Infinity) > now - TLS_LOG_INTERVAL_MS) return
      tlsLogged.set(key, now)
      logger.warn({ event: 'upstream-tls', pool: e.pool, endpoint: e.endpoint, reason: e.detail, requestId: e.requestId }, `${e.pool}/${e.endpoint} TLS handshake failed: ${e.detail ?? 'unknown'}`)
    }],
    [CHANNELS.dns, (m) => {
      const e = m as DnsEvent
      // A failure is logged once per streak (the metric counts every one); a name that never resolved
      // says what that means for the pool.
      const key = `${e.pool}/${e.name}`
      if (e.result === 'success') {
        const recovered = dnsFailing.delete(key)
        if (e.changed === true || recovered) logger.info({ event: 'dns', pool: e.pool, name: e.name, addresses: e.addresses }, `${e.pool}: ${e.name} resolved to ${e.addresses ?? 0} endpoint(s)`)
        return
      }
      if (dnsFailing.has(key)) return
      dnsFailing.add(key)
      const what = e.everResolved === true
        ? 'keeping the last known endpoints'
        : 'it has not resolved yet: its endpoints are missing, and the pool answers 503 while it has no other endpoint'
      logger.warn({ event: 'dns', pool: e.pool, name: e.name, error: e.error }, `${e.pool}: DNS lookup of ${e.name} failed (${e.error ?? 'unknown'}); ${what}`)
    }],
    [CHANNELS.config, (m) => {
      const e = m as ConfigEvent
      if (e.ok) logger.info({ event: 'config', file: e.file }, 'configuration loaded')
      else logger.error({ event: 'config', file: e.file, problems: e.problems }, 'configuration rejected')
    }],
  ]
  for (const [name, fn] of subs) diagnostics.subscribe(name, fn)
  return () => {
    for (const [name, fn] of subs) diagnostics.unsubscribe(name, fn)
    logger.flush()
  }
}
