/**
 * The access log: one JSON line per proxied request in pino's format, handed in batches to pino's
 * asynchronous destination, written from the `lb:request` channel. With `log.accessLog: false` nothing
 * subscribes, so the proxy does not even build the event. Fields: `time` (ms since the epoch), `level`,
 * `msg: "request"`, `reqId`, `client`, `method`, `host`, `path`, `route`, `pool`, `endpoint`, `status`,
 * `bytesIn`, `bytesOut`, `durationMs`, `upstreamMs` (-1 when no backend answered), `retries`, `error`
 * (an `LB_ERR_*` code or absent), `worker` (pid).
 */
import diagnostics from 'node:diagnostics_channel'
import pino from 'pino'
import { CHANNELS, type RequestEvent } from '../core/index.js'
import { createPrettyStream } from './pretty.js'

/** What the access log needs from the configuration (`log`). */
export interface AccessLogOptions {
  accessLog: boolean
  /** Append to this file instead of stdout. */
  accessLogFile?: string | undefined
  /** `pretty`: prettified through pino-pretty when it is installed (default json). */
  format?: 'json' | 'pretty' | undefined
}

/** A running access log. */
export interface AccessLog {
  /** Unsubscribes and writes out what is buffered (synchronously: call it before exiting). */
  close(): void
}

/**
 * `String(Math.round(ms * 1000) / 1000)` (what pino printed for the rounded value) from integer parts:
 * about three times cheaper than formatting a double, and it runs twice per line.
 */
export function millis3(ms: number): string {
  const r = Math.round(ms * 1000)
  if (r < 0 || !Number.isSafeInteger(r)) return String(r / 1000)
  const int = Math.floor(r / 1000)
  const frac = r - int * 1000
  if (frac === 0) return `${int}`
  if (frac % 100 === 0) return `${int}.${frac / 100}`
  if (frac % 10 === 0) return `${int}.${frac < 100 ? '0' : ''}${frac / 10}`
  return `${int}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`
}

/** A JSON string literal: as is when nothing needs escaping (the usual case), else JSON.stringify. */
function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s)
  }
  return `"${s}"`
}

/**
 * One access-log line, the same JSON pino wrote for `logger.info(fields, 'request')` with the project's
 * pino options (`level` as a label, then `time`, the `worker` binding, the fields, `msg`), built as one
 * template: pino's generic path (a fields object, a level formatter call, per-key type dispatch) cost
 * several microseconds per request on the hot path.
 */
export function formatAccessLine(e: RequestEvent, worker: number, time: number): string {
  const error = e.error === '' ? '' : `,"error":${jsonString(e.error)}`
  const decision = e.decision === undefined ? '' : `,"decision":${jsonString(e.decision)}`
  return `{"level":"info","time":${time},"worker":${worker},"reqId":${jsonString(e.requestId)},"client":${jsonString(e.clientIp)},` +
    `"method":${jsonString(e.method)},"host":${jsonString(e.host)},"path":${jsonString(e.path)},"route":${jsonString(e.route)},` +
    `"pool":${jsonString(e.pool)},"endpoint":${jsonString(e.endpoint)},"status":${e.status},"bytesIn":${e.bytesIn},` +
    `"bytesOut":${e.bytesOut},"durationMs":${millis3(e.durationMs)},"upstreamMs":${e.upstreamMs < 0 ? '-1' : millis3(e.upstreamMs)},` +
    `"retries":${e.retries}${error}${decision},"msg":"request"}\n`
}

/** What the batcher needs of pino's destination (sonic-boom). */
interface LineSink {
  write(chunk: string): boolean
}

/**
 * Collects formatted lines and passes them on in one write per batch: when 64 KiB are waiting, or
 * 200 ms after the first waiting line. Handing sonic-boom one line at a time made it re-measure (and
 * flatten) its whole pending buffer for every line once writes overlapped, which cost more than
 * formatting the line; a batch is measured once. A line waits at most 200 ms before it is written.
 */
export class LineBatcher {
  private lines: string[] = []
  private size = 0
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly sink: LineSink,
    private readonly maxBytes = 64 * 1024,
    private readonly maxDelayMs = 200,
  ) {}

  write(line: string): void {
    this.lines.push(line)
    this.size += line.length
    if (this.size >= this.maxBytes) this.flush()
    else if (this.timer === undefined) {
      this.timer = setTimeout(this.flush, this.maxDelayMs)
      this.timer.unref()
    }
  }

  /** Passes every waiting line on now. */
  readonly flush = (): void => {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.lines.length === 0) return
    const chunk = this.lines.length === 1 ? (this.lines[0] as string) : this.lines.join('')
    this.lines = []
    this.size = 0
    this.sink.write(chunk)
  }
}

/** Starts the access log, or returns undefined (and subscribes to nothing) when it is off. */
export function startAccessLog(options: AccessLogOptions): AccessLog | undefined {
  if (!options.accessLog) return undefined
  // pino's asynchronous destination (sonic-boom) owns the file descriptor and the writes.
  const target = options.accessLogFile ?? 1
  const pretty = options.format === 'pretty' ? createPrettyStream(target) : undefined
  const dest = pretty === undefined ? pino.destination({ dest: target, sync: false, mkdir: options.accessLogFile !== undefined }) : undefined
  const batcher = new LineBatcher(pretty ?? (dest as LineSink))
  const worker = process.pid
  const onRequest = (m: unknown): void => {
    batcher.write(formatAccessLine(m as RequestEvent, worker, Date.now()))
  }
  diagnostics.subscribe(CHANNELS.request, onRequest)
  return {
    close: () => {
      diagnostics.unsubscribe(CHANNELS.request, onRequest)
      batcher.flush()
      pretty?.end()
      try {
        dest?.flushSync()
      } catch {
        // Not open yet (nothing written) or already closed: nothing to flush.
      }
    },
  }
}
