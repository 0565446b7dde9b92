/**
 * A health probe in the gRPC health protocol: `grpc.health.v1.Health/Check` over HTTP/2 (prior knowledge
 * for `http:`, ALPN h2 with the pool's TLS settings for `https:`), one session per probe. Healthy only
 * when the call ends with `grpc-status: 0` and the answer says SERVING; NOT_SERVING, UNKNOWN,
 * SERVICE_UNKNOWN, any gRPC error (UNIMPLEMENTED: the server has no health service), a malformed answer,
 * a connection error or the timeout fail it.
 */
import { connect as connectHttp2 } from 'node:http2'
import type { ConnectionOptions } from 'node:tls'
import type { HealthCheckConfig } from '../../config/index.js'
import { SERVING, SERVING_STATUS_NAMES, decodeHealthCheckResponse, encodeHealthCheckRequest } from './grpc-health-message.js'
import type { ProbeOutcome, ProbeRequest } from './types.js'

const CHECK_PATH = '/grpc.health.v1.Health/Check'

/** Probe timeout when the configuration has none, ms. */
const DEFAULT_TIMEOUT_MS = 2_000

/**
 * Sends one gRPC health check to `url` for `config.grpc.service`. `settle` runs once with the outcome,
 * `closed` once the session is gone; `userAgent` marks the probe for backends' logs.
 */
export function sendGrpcHealthProbe(
  url: URL,
  config: HealthCheckConfig,
  tlsOptions: ConnectionOptions | undefined,
  userAgent: string,
  settle: (o: ProbeOutcome) => void,
  closed: () => void,
): ProbeRequest {
  let settled = false
  const once = (o: ProbeOutcome): void => {
    if (settled) return
    settled = true
    settle(o)
  }
  const timeoutMs = config.timeoutMs > 0 ? config.timeoutMs : DEFAULT_TIMEOUT_MS
  const session = connectHttp2(url.origin, tlsOptions)
  const timer = setTimeout(() => {
    once({ success: false, error: 'timeout', reason: 'timeout' })
    session.destroy()
  }, timeoutMs)
  timer.unref()
  session.on('error', (err: NodeJS.ErrnoException) => once(errorOutcome(err)))
  session.once('close', () => {
    clearTimeout(timer)
    once({ success: false, error: 'ECONNRESET', reason: 'ECONNRESET' })
    closed()
  })
  const stream = session.request({
    ':method': 'POST',
    ':path': CHECK_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    // The server may give up at the same time as the probe does.
    'grpc-timeout': `${timeoutMs}m`,
    'user-agent': userAgent,
  })
  let httpStatus = 0
  let grpcStatus: string | undefined
  const chunks: Buffer[] = []
  stream.on('response', (headers) => {
    httpStatus = Number(headers[':status'])
    // A trailers-only answer (an error) carries its grpc-status here.
    if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status'])
  })
  stream.on('trailers', (trailers) => {
    if (trailers['grpc-status'] !== undefined) grpcStatus = String(trailers['grpc-status'])
  })
  stream.on('data', (chunk: Buffer) => {
    // A health answer is a few bytes: anything past 64 KiB is not one.
    if (chunks.length < 64) chunks.push(chunk)
  })
  stream.on('end', () => {
    once(outcomeOf(httpStatus, grpcStatus, Buffer.concat(chunks)))
    session.close()
  })
  stream.on('error', (err: NodeJS.ErrnoException) => once(errorOutcome(err)))
  stream.once('close', () => session.close())
  stream.end(encodeHealthCheckRequest(config.grpc?.service ?? ''))
  return session
}

/** The outcome of a finished call: HTTP status, `grpc-status` and the response message bytes. */
export function outcomeOf(httpStatus: number, grpcStatus: string | undefined, data: Buffer): ProbeOutcome {
  if (httpStatus !== 200) return { success: false, status: httpStatus, error: `status ${httpStatus}`, reason: `status ${httpStatus}` }
  if (grpcStatus !== '0') {
    const reason = grpcStatus === undefined ? 'no grpc-status' : `grpc-status ${grpcStatus}`
    return { success: false, status: httpStatus, error: reason, reason }
  }
  const serving = decodeHealthCheckResponse(data)
  if (serving === undefined) return { success: false, status: httpStatus, error: 'malformed health response', reason: 'malformed health response' }
  const name = SERVING_STATUS_NAMES[serving] ?? `status ${serving}`
  return serving === SERVING ? { success: true, status: httpStatus, reason: name } : { success: false, status: httpStatus, error: name, reason: name }
}

function errorOutcome(err: NodeJS.ErrnoException): ProbeOutcome {
  const error = typeof err.code === 'string' ? err.code : err.message
  return { success: false, error, reason: error }
}
