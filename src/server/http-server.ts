import { createServer, type Server } from 'node:http'
import type { ClientLimits } from '../config/index.js'
import { createRequestHandler, createUpgradeHandler, type ProxyRuntime } from '../proxy/index.js'
import { handleClientError } from './client-errors.js'
import { trackConnections } from './drain.js'

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
 * The plain HTTP/1.1 listener. Node's parser enforces the client deadlines (header 10 s, whole
 * request 60 s) and a head-size ceiling; the balancer measures URL and header sizes itself so that
 * it can tell 414 from 431 (the parser's ceiling is their sum plus slack, a backstop).
 */
export function createHttpServer(runtime: ProxyRuntime, limits: ClientLimits): Server {
  const server = createServer(http1ServerOptions(limits))
  // One field beyond the limit stays visible to the request guard, which answers 431.
  server.maxHeadersCount = limits.maxHeaderCount + 1
  server.on('request', createRequestHandler(runtime, 'http'))
  server.on('upgrade', createUpgradeHandler(runtime, 'http'))
  trackConnections(server)
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => handleClientError(err, socket, limits.maxUrlBytes))
  return server
}
