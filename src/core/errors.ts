/**
 * The one error type of the balancer. Every code is documented in `docs/errors.md` (a test checks it).
 * Expected hot-path outcomes (no backend, limits) are return values or responses, not throws;
 * `LbError` carries them when they must cross a boundary (a retry decision, an error response).
 */

/** Where an error comes from: a backend, the client, the balancer itself, or its configuration. */
export type ErrorSource = 'upstream' | 'downstream' | 'internal' | 'config'

/** Stable error codes. Add new ones here and in docs/errors.md. */
export const ERROR_CODES = {
  LB_ERR_NO_BACKEND: { source: 'internal', retryable: false, status: 503, message: 'no healthy backend' },
  LB_ERR_CONNECT: { source: 'upstream', retryable: true, status: 502, message: 'could not connect to backend' },
  LB_ERR_RESET: { source: 'upstream', retryable: true, status: 502, message: 'backend closed the connection' },
  LB_ERR_UPSTREAM_TIMEOUT: { source: 'upstream', retryable: true, status: 504, message: 'backend timed out' },
  LB_ERR_UPSTREAM_TLS: { source: 'upstream', retryable: true, status: 502, message: 'TLS handshake with backend failed' },
  LB_ERR_UPSTREAM_PROTOCOL: { source: 'upstream', retryable: false, status: 502, message: 'invalid response from backend' },
  LB_ERR_OVERLOADED: { source: 'internal', retryable: true, status: 503, message: 'backend limits reached' },
  LB_ERR_NO_ROUTE: { source: 'downstream', retryable: false, status: 404, message: 'no route matches the request' },
  LB_ERR_BAD_REQUEST: { source: 'downstream', retryable: false, status: 400, message: 'malformed request' },
  LB_ERR_AMBIGUOUS_FRAMING: { source: 'downstream', retryable: false, status: 400, message: 'ambiguous request framing' },
  LB_ERR_HEADERS_TOO_LARGE: { source: 'downstream', retryable: false, status: 431, message: 'request headers too large' },
  LB_ERR_URI_TOO_LONG: { source: 'downstream', retryable: false, status: 414, message: 'request URL too long' },
  LB_ERR_BODY_TOO_LARGE: { source: 'downstream', retryable: false, status: 413, message: 'request body too large' },
  LB_ERR_REQUEST_TIMEOUT: { source: 'downstream', retryable: false, status: 408, message: 'request not received in time' },
  LB_ERR_CLIENT_ABORTED: { source: 'downstream', retryable: false, status: 499, message: 'client closed the connection' },
  LB_ERR_UPGRADE_REFUSED: { source: 'downstream', retryable: false, status: 400, message: 'upgrade not supported' },
  LB_ERR_RATE_LIMITED: { source: 'downstream', retryable: false, status: 429, message: 'rate limit exceeded' },
  LB_ERR_INTERNAL: { source: 'internal', retryable: false, status: 500, message: 'internal error' },
  LB_ERR_CONFIG: { source: 'config', retryable: false, status: 500, message: 'invalid configuration' },
  LB_ERR_STATE_UNAVAILABLE: { source: 'internal', retryable: true, status: 503, message: 'state store unreachable' },
} as const satisfies Record<string, { source: ErrorSource; retryable: boolean; status: number; message: string }>

export type ErrorCode = keyof typeof ERROR_CODES

/** A balancer error with a stable code, its source, and whether retrying elsewhere may help. */
export class LbError extends Error {
  readonly code: ErrorCode
  readonly source: ErrorSource
  readonly retryable: boolean

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; retryable?: boolean }) {
    const spec = ERROR_CODES[code]
    super(message ?? spec.message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'LbError'
    this.code = code
    this.source = spec.source
    this.retryable = options?.retryable ?? spec.retryable
  }
}

/** True when `err` is an LbError with the given code. */
export function isLbError(err: unknown, code?: ErrorCode): err is LbError {
  return err instanceof LbError && (code === undefined || err.code === code)
}
