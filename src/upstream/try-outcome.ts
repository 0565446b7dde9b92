/**
 * How one try against one endpoint ended: the single vocabulary the retry gate, the breaker and passive
 * checks, the `lb_upstream_errors_total{kind}` label, the access log and the decision trace all use, so
 * one failure carries one name everywhere.
 * - `success`: the backend answered below 500 (or switched protocols);
 * - `5xx`: the backend answered 500 or above;
 * - `connect`: no connection could be made (refused, unreachable, connect timeout);
 * - `upstream-tls`: the TLS handshake with an https:// backend failed (it never saw the request);
 * - `reset`: the connection broke after it was made; `protocol`: the backend's answer could not be read;
 * - `timeout`: no response head (or no body byte) within the configured time;
 * - `endpoint-down`: the balancer cancelled a try waiting for its answer because its endpoint left rotation;
 * - `client-aborted`: the client went away; `body-too-large`: the request body passed `maxBodyBytes`;
 * - `abandoned`: ended for any other reason of the balancer's own (a gRPC deadline, a tunnel whose client left).
 */
export type TryOutcome =
  | 'success'
  | '5xx'
  | 'connect'
  | 'upstream-tls'
  | 'reset'
  | 'protocol'
  | 'timeout'
  | 'endpoint-down'
  | 'client-aborted'
  | 'body-too-large'
  | 'abandoned'

/** The outcomes that are a backend's fault and counted by `lb_upstream_errors_total` (its `kind` label). */
export type UpstreamErrorKind = 'connect' | 'upstream-tls' | 'reset' | 'protocol' | 'timeout'

/** True for the outcomes that count as an upstream error (the others say nothing bad, or nothing at all, about the backend's transport). */
export function isUpstreamError(outcome: TryOutcome): outcome is UpstreamErrorKind {
  return outcome === 'connect' || outcome === 'upstream-tls' || outcome === 'reset' || outcome === 'protocol' || outcome === 'timeout'
}

/**
 * What the breaker and passive checks learn from an outcome: `success`, a failure kind they count, or
 * `abandoned` (no verdict on the backend: the balancer or the client ended the try). A failed TLS
 * handshake is a connect failure to them, an unreadable answer a reset.
 */
export type BackendVerdict = 'success' | 'connect' | 'reset' | 'timeout' | '5xx' | 'abandoned'

/** The verdict an outcome gives on the backend; see {@link BackendVerdict}. */
export function verdictOf(outcome: TryOutcome): BackendVerdict {
  switch (outcome) {
    case 'success':
    case '5xx':
    case 'connect':
    case 'reset':
    case 'timeout':
      return outcome
    case 'upstream-tls':
      return 'connect'
    case 'protocol':
      return 'reset'
    default:
      return 'abandoned'
  }
}
