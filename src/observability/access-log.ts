/**
 * The access log: one JSON line per proxied request (`pino`, asynchronous destination), written from
 * the `lb:request` channel. With `log.accessLog: false` nothing subscribes, so the proxy does not
 * even build the event. Fields: `time` (ms since the epoch), `level`, `msg: "request"`, `reqId`,
 * `client`, `method`, `host`, `path`, `route`, `pool`, `endpoint`, `status`, `bytesIn`, `bytesOut`,
 * `durationMs`, `upstreamMs` (-1 when no backend answered), `retries`, `error` (an `LB_ERR_*` code or
 * absent), `worker` (pid).
 */
import diagnostics from 'node:diagnostics_channel'
import pino, { type Logger } from 'pino'
import { CHANNELS, type RequestEvent } from '../core/index.js'
import { PINO_BASE_OPTIONS } from './logger.js'

/** What the access log needs from the configuration (`log`). */
export interface AccessLogOptions {
  accessLog: boolean
  /** Append to this file instead of stdout. */
  accessLogFile?: string | undefined
}

/** A running access log. */
export interface AccessLog {
  readonly logger: Logger
  /** Unsubscribes and writes out what is buffered (synchronously: call it before exiting). */
  close(): void
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000

/** Starts the access log, or returns undefined (and subscribes to nothing) when it is off. */
export function startAccessLog(options: AccessLogOptions): AccessLog | undefined {
  if (!options.accessLog) return undefined
  const dest = pino.destination({ dest: options.accessLogFile ?? 1, sync: false, mkdir: options.accessLogFile !== undefined })
  const logger = pino({ ...PINO_BASE_OPTIONS, level: 'info' }, dest).child({ worker: process.pid })
  const onRequest = (m: unknown): void => {
    const e = m as RequestEvent
    logger.info(
      {
        reqId: e.requestId,
        client: e.clientIp,
        method: e.method,
        host: e.host,
        path: e.path,
        route: e.route,
        pool: e.pool,
        endpoint: e.endpoint,
        status: e.status,
        bytesIn: e.bytesIn,
        bytesOut: e.bytesOut,
        durationMs: round(e.durationMs),
        upstreamMs: e.upstreamMs < 0 ? -1 : round(e.upstreamMs),
        retries: e.retries,
        error: e.error === '' ? undefined : e.error,
        decision: e.decision,
      },
      'request',
    )
  }
  diagnostics.subscribe(CHANNELS.request, onRequest)
  return {
    logger,
    close: () => {
      diagnostics.unsubscribe(CHANNELS.request, onRequest)
      try {
        dest.flushSync()
      } catch {
        // Not open yet (nothing written) or already closed: nothing to flush.
      }
    },
  }
}
