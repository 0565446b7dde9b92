import type { Lease } from '../upstream/index.js'
import type { ClientRequest } from './client-message.js'

/**
 * Which code carries a try to its backend: `fast`, the balancer's own HTTP/1.1 connections
 * (`upstream/h1/`: heads serialized once, bodies passed as buffers, no undici dispatcher in between), or
 * `general`, undici (and the HTTP/2 dispatcher) for everything else. Admission, breaker, passive checks,
 * retries, metrics, access log and the decision trace are the same for both: only the dispatcher differs.
 */
export type ForwardPath = 'fast' | 'general'

/**
 * The one decision, per try: fast when the endpoint has own HTTP/1.1 connections (a plain `http://`
 * endpoint of a `protocol: http1` pool, the fast path on, Node's parser binding present) and the client
 * spoke HTTP/1.x. HTTP/2 clients (their trailers and gRPC deadlines) stay on the general path, as do
 * https://, h2c and h2 endpoints (their pools have no own connections).
 */
export function chooseForwardPath(req: ClientRequest, lease: Lease): ForwardPath {
  if (lease.fastDispatcher === undefined) return 'general'
  return req.httpVersionMajor === 1 ? 'fast' : 'general'
}
