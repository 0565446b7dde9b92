import { randomUUID } from 'node:crypto'
import type { ErrorCode, RequestKeySource } from '../core/index.js'
import { requestKey } from '../core/index.js'
import type { ClientLimits } from '../config/index.js'
import type { ClientRequest } from './client-message.js'
import { isValidRequestId, knownName } from './headers.js'
import { checkRequest, type GuardedHead } from './request-guard.js'
import { forwardTargetFor, matchPathFor, type PathPolicy } from './path-normalize.js'
import { toOriginForm } from './origin-form.js'

/**
 * Everything the balancer reads from a request's head, gathered once and read by the router, the rate
 * limiter, the pool (hash and sticky keys) and the upgrade path, instead of each scanning the raw headers
 * again. The guard's pass fills it (Host, framing, Content-Type, `grpc-timeout`, Upgrade). The other pass
 * over the headers is the copy of the forwarded ones (`copyRequestHeaders`, which also reports the request
 * id, X-Forwarded-For and Content-Length): it depends on the route's header removals, so it comes after
 * routing. Keys by source ({@link key}) are looked up on first use and remembered.
 */
export class RequestHead implements GuardedHead {
  host = ''
  chunked = false
  contentType = ''
  grpcTimeout = ''
  upgrade = ''
  /** The client address, once the proxy resolved it (trusted proxies honoured); the `ip` key. */
  clientIp = ''
  /** The request method (`GET` when the listener gave none). */
  readonly method: string
  /** The request target in origin form (a proxy-style absolute target converted). */
  target = ''
  /** The target's path as sent, query excluded. */
  rawPath = ''
  /** The path routes match on (normalized by `listen.normalizePath`); undefined: refuse with 400 (encoded slash). */
  path: string | undefined
  private keys: Map<RequestKeySource, string | undefined> | undefined

  constructor(
    readonly req: ClientRequest,
    private readonly paths: PathPolicy,
  ) {
    this.method = req.method ?? 'GET'
  }

  /** Splits the target (path, query) and normalizes the path; once the guard accepted its length. */
  readTarget(): void {
    this.target = toOriginForm(this.req.url ?? '/')
    const q = this.target.indexOf('?')
    this.rawPath = q === -1 ? this.target : this.target.slice(0, q)
    this.path = matchPathFor(this.rawPath, this.paths)
  }

  /** The raw header list, as the listener parsed it. */
  get rawHeaders(): readonly string[] {
    return this.req.rawHeaders
  }

  /**
   * The target sent upstream (see `forwardTargetFor`): `rewrites` when the route rewrites the path,
   * which then starts from the normalized path. Only call when {@link path} is defined.
   */
  forwardTarget(rewrites: boolean): string {
    return forwardTargetFor(this.target, this.rawPath, this.path as string, this.paths, rewrites)
  }

  /**
   * The request's key from `source` (client address, header, cookie), undefined when absent: the one
   * extractor behind rate-limit keys, consistent hashing and sticky sessions. Looked up once per source.
   */
  key(source: RequestKeySource): string | undefined {
    if (source.kind === 'ip') return this.clientIp
    const keys = (this.keys ??= new Map())
    if (keys.has(source)) return keys.get(source)
    const value = requestKey(source, this.req.rawHeaders, this.clientIp)
    keys.set(source, value)
    return value
  }

  /** {@link key} as a function value, for the pool's lease context. */
  readonly keyOf = (source: RequestKeySource): string | undefined => this.key(source)
}

/**
 * Checks a request (see `checkRequest`) and reads its head in the same pass. Returns the head, or the
 * error code to refuse it with.
 */
export function readRequestHead(req: ClientRequest, limits: ClientLimits, paths: PathPolicy): RequestHead | ErrorCode {
  const head = new RequestHead(req, paths)
  const problem = checkRequest(req, limits, head)
  if (problem !== undefined) return problem
  head.readTarget()
  return head
}

/**
 * The client's `X-Request-Id` when valid, else a new one: for requests refused before their head was
 * read (the guard's refusals), which still answer with an id.
 */
export function incomingRequestId(raw: readonly string[]): string {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 12 && knownName(name) === 'x-request-id') {
      const v = raw[i + 1] as string
      if (isValidRequestId(v)) return v
    }
  }
  return randomUUID()
}
