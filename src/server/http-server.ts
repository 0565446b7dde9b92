import { createServer } from 'node:http'
import type { Server as NetServer } from 'node:net'
import type { ClientLimits } from '../config/index.js'
import { createRequestHandler, createUpgradeHandler, type ProxyRuntime } from '../proxy/index.js'
import { handleClientError } from './client-errors.js'
import { ConnectionRegistry, trackResponses } from './connection-registry.js'
import { acceptH2c } from './h2c.js'
import { watchSendDeadline } from './send-deadline.js'
import { deferContinue } from './expect-continue.js'
import { lingerOnClose } from './lingering-close.js'
import { Http1Server, loadParserBinding, selfTestParserBinding, type Http1ServerOptions, type ModuleLoader, type ParserBinding } from './http1/index.js'

/**
 * Node server options every HTTP/1.1 listener (plain and TLS) shares: the client deadlines, the
 * parser's head-size backstop, and no automatic Host check (the request guard answers with JSON).
 */
export function http1ServerOptions(limits: ClientLimits) {
  return {
    maxHeaderSize: limits.maxHeaderBytes + limits.maxUrlBytes + 1024,
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Resolution of the two deadlines above (Node's default checks only every 30 s).
    connectionsCheckingInterval: Math.min(1000, limits.headerTimeoutMs),
    // Checked by the request guard so that the answer carries the JSON error body.
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    noDelay: true,
  }
}

/**
 * What the balancer's own HTTP/1.1 code needs to serve with `limits`, or undefined when `node:http` is to
 * serve instead (`LB_HTTP1_SERVER=node`, or a Node whose parser binding has another shape). Both listeners
 * (plain and TLS) decide here. `options.maxHeadersCount` is one above the limit, so that one field too many
 * stays visible to the request guard, which answers 431; `node:http` servers take it as a property.
 */
export function ownHttp1(limits: ClientLimits): { binding: ParserBinding | undefined; options: ReturnType<typeof http1ServerOptions> & Http1ServerOptions } {
  const binding = chooseHttp1Listener().binding
  return { binding, options: { ...http1ServerOptions(limits), maxHeadersCount: limits.maxHeaderCount + 1 } }
}

/** Which code serves HTTP/1.1, and why (see {@link chooseHttp1Listener}). */
export interface Http1ListenerChoice {
  /** `own`: the balancer's listener on Node's llhttp binding; `node`: `node:http`. */
  readonly kind: 'own' | 'node'
  /** Set when `kind` is `own`. */
  readonly binding?: ParserBinding | undefined
  /** Why `node:http` serves (empty for `own`). */
  readonly reason: string
}

/** The self-tested binding of this process's Node (tested once). */
let tested: Http1ListenerChoice | undefined

/**
 * Decides which code serves HTTP/1.1: the balancer's own listener unless `LB_HTTP1_SERVER=node` asks for
 * `node:http`, this Node's `_http_common` lacks a name it uses, or the binding fails its start-up
 * self-test (canned requests, a pipelined pair with a chunked body and a refused ambiguous one, parsed as
 * the listener parses; run once per process). `env` and `load` are for tests (`load` is never cached).
 */
export function chooseHttp1Listener(env: NodeJS.ProcessEnv = process.env, load?: ModuleLoader): Http1ListenerChoice {
  if (env.LB_HTTP1_SERVER === 'node') return { kind: 'node', reason: 'LB_HTTP1_SERVER=node' }
  if (load === undefined && tested !== undefined) return tested
  const binding = loadParserBinding(load)
  const failure = binding === undefined ? undefined : selfTestParserBinding(binding)
  const choice: Http1ListenerChoice =
    binding === undefined
      ? { kind: 'node', reason: "this Node's _http_common parser binding lacks a name the listener uses" }
      : failure === undefined
        ? { kind: 'own', binding, reason: '' }
        : { kind: 'node', reason: `parser self-test failed: ${failure}` }
  if (load === undefined) tested = choice
  return choice
}

/** One line for the start-up log naming the HTTP/1.1 listener (and why, for the fallback). */
export function describeHttp1Listener(choice: Http1ListenerChoice = chooseHttp1Listener()): string {
  return choice.kind === 'own' ? 'lb: HTTP/1.1 listener: own (llhttp binding, self-test passed)' : `lb: HTTP/1.1 listener: node:http (${choice.reason})`
}

/** A listener the drain can stop: `http.Server` or the balancer's own {@link Http1Server}. */
export type PlainServer = NetServer & { closeAllConnections(): void }

/**
 * The plain HTTP/1.1 listener. Requests are parsed by Node's own llhttp binding with the strictness of
 * `node:http`; the balancer's {@link Http1Server} answers them without `IncomingMessage` and
 * `ServerResponse`, which cost a Node proxy about a fifth of its CPU per request (docs/profiling.md).
 * `node:http` is used instead when this Node's parser binding has another shape, or when
 * `LB_HTTP1_SERVER=node` asks for it. The parser enforces the client deadlines (header 10 s, whole
 * request 60 s) and a head-size ceiling; the balancer measures URL and header sizes itself so that it
 * can tell 414 from 431 (the parser's ceiling is their sum plus slack, a backstop). `listen.h2c`: the
 * same port also serves HTTP/2 with prior knowledge ({@link acceptH2c}).
 */
export function createHttpServer(runtime: ProxyRuntime, limits: ClientLimits, listen: { h2c?: boolean | undefined } = {}): PlainServer {
  const { binding, options } = ownHttp1(limits)
  const onRequest = createRequestHandler(runtime, 'http')
  const registry = new ConnectionRegistry()
  let server: PlainServer
  if (binding === undefined) {
    const node = createServer(options)
    node.maxHeadersCount = options.maxHeadersCount
    trackResponses(node, registry)
    // A half-closed client gets the answers to what it sent, as from the own listener (undocumented but
    // long-standing `http.Server` switch; without it node:http abandons them on FIN).
    ;(node as typeof node & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true
    deferContinue(node)
    lingerOnClose(node)
    node.on('request', onRequest)
    server = node
  } else {
    server = new Http1Server(binding, options, onRequest, registry)
  }
  // Before any other connection listener: it takes over the HTTP/1.1 ones registered so far.
  if (listen.h2c === true) acceptH2c(server, onRequest, limits, registry)
  server.on('upgrade', createUpgradeHandler(runtime, 'http'))
  registry.attach(server)
  watchSendDeadline(server, limits.sendTimeoutMs)
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => handleClientError(err, socket, limits.maxUrlBytes, registry))
  return server
}
