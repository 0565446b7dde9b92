/**
 * The worker's composition: what one proxy process serves (pools, router, rate limiters, listeners) built
 * from a configuration, and how it applies the primary's messages. The only place on the worker side that
 * chooses implementations.
 */
import cluster from 'node:cluster'
import diagnostics from 'node:diagnostics_channel'
import type { LbConfig } from '../config/index.js'
import { SequenceLeaser } from '../state/index.js'
import { InProcessTokenSource, LocalTokenSource, RateLimitAuthority, RouteRateLimiter, formatRateLimitPolicy, type TokenSource } from '../ratelimit/index.js'
import { UpstreamPool, isFastPathEnabled, type UpstreamPoolOptions } from '../upstream/index.js'
import { ClientAddressResolver, Router, type ProxyContext, type ProxyRuntime } from '../proxy/index.js'
import { createHttpServer, createRedirectServer, createTlsServer, drainServer, listenOn, type Listening, type PlainServer, type TlsListener } from '../server/index.js'
import { IpcCounter, type PrimaryMessage, type WorkerApp, type WorkerMessage } from '../cluster/index.js'
import { circuitChannel, FailureThrottle, type CircuitEvent } from '../core/index.js'
import { startWorkerObservability, type ListenerMetricsSource } from '../observability/index.js'

/** What a worker's pools get from outside the configuration. */
export interface ProxyContextExtras {
  /** Where rate-limit tokens come from (the primary's buckets in a worker; a local table in-process). */
  tokens?: TokenSource
  /** Global round robin: the shared sequence of a pool. */
  sequence?: UpstreamPoolOptions['sequence']
  /** On reload: pools whose configuration did not change are taken over (connections, state). */
  previous?: ProxyContext | undefined
}

/**
 * Builds the per-process proxy context (pools, router) from a configuration. `send` reports
 * passive ejections to the primary, which spreads them to the other workers.
 */
export function buildProxyContext(config: LbConfig, send: (msg: WorkerMessage) => void = () => undefined, extras: ProxyContextExtras = {}): ProxyContext {
  const pools = new Map<string, UpstreamPool>()
  // Read per build, so a reload picks up nothing new here: the environment is the process's.
  const fastPath = isFastPathEnabled()
  const onLocalEjection: UpstreamPoolOptions['onLocalEjection'] = (pool, change) =>
    send({ type: 'lb:ejection', pool, id: change.id, ejected: change.ejected, durationMs: change.durationMs })
  for (const pool of Object.values(config.pools)) {
    const before = extras.previous?.pools.get(pool.name)
    const same = before !== undefined && JSON.stringify(before.config) === JSON.stringify(pool)
    pools.set(pool.name, same ? before : new UpstreamPool(pool, { onLocalEjection, sequence: extras.sequence, fastPath }))
  }
  const limiters = new Map<string, { limiter: RouteRateLimiter; policyHeader: string }>()
  const tokens = extras.tokens ?? new InProcessTokenSource(new RateLimitAuthority())
  for (const route of config.routes) {
    const policy = route.rateLimit
    if (policy === undefined) continue
    limiters.set(route.name, {
      limiter: new RouteRateLimiter({ route: route.name, policy, source: tokens }),
      policyHeader: formatRateLimitPolicy(route.name, policy),
    })
  }
  const firstPool = Object.keys(config.pools)[0]
  return {
    router: new Router(config.routes, firstPool),
    pools,
    limiters,
    limits: config.limits,
    clientAddress: new ClientAddressResolver(config.trustedProxies),
    via: config.via,
    debugToken: config.admin.token,
    // Kept across reloads: a reload must not give a token guesser a fresh allowance.
    debugThrottle: extras.previous?.debugThrottle ?? new FailureThrottle(),
    paths: { mode: config.listen.normalizePath ?? 'match-only', allowEncodedSlashes: config.listen.allowEncodedSlashes ?? false },
  }
}

/**
 * Accept queue of the HTTP listener (the kernel caps it at `net.core.somaxconn`). Node's default is 511:
 * a burst of thousands of connects (a client pool opening at once, a reconnect storm after a restart)
 * overflowed it while the primary handed accepted sockets to the workers, and the dropped SYNs were
 * retried by the clients after 1, 3, 7 s, which is how a few connections waited past 10 s. Under
 * `node:cluster` round robin the worker's value reaches the primary's socket.
 */
const LISTEN_BACKLOG = 4096

/** A proxy process: listener, pools and the runtime flags, as run by a worker (or in-process). */
export interface ProxyProcess extends WorkerApp {
  readonly runtime: ProxyRuntime
  readonly server: PlainServer
  /** The bound port (useful with port 0). */
  port(): number
}

/**
 * Builds one proxy process from a configuration. `send` reports to the primary (no-op in-process).
 * `observability` (default: only in a cluster worker) installs the metrics the primary scrapes, the
 * access log and the event log; in-process proxies (tests) share one process and have no primary.
 */
export function createWorkerApp(config: LbConfig, send: (msg: WorkerMessage) => void = () => undefined, options: { observability?: boolean } = {}): ProxyProcess {
  const counter = new IpcCounter(send)
  const { sequence, close: closeLeasers } = globalRoundRobin(counter)
  const tokens = cluster.isWorker ? new LocalTokenSource((m) => send(m)) : undefined
  const runtime: ProxyRuntime = { context: buildProxyContext(config, send, { sequence, tokens }), shuttingDown: false, inFlight: 0 }
  // Filled once the listeners exist (below); the metrics read it only when scraped.
  const listenerSources: ListenerMetricsSource[] = []
  const observability = (options.observability ?? cluster.isWorker)
    ? startWorkerObservability({
        log: config.log,
        pools: () => runtime.context.pools.values(),
        listeners: () => listenerSources,
        worker: cluster.worker === undefined ? undefined : String(cluster.worker.id),
      })
    : undefined
  // Circuits are per worker; the primary collects their states for the admin view.
  const onCircuit = (m: unknown): void => {
    const e = m as CircuitEvent
    send({ type: 'lb:circuit', pool: e.pool, id: e.endpoint, state: e.state })
  }
  diagnostics.subscribe(circuitChannel.name, onCircuit)
  let plainListening: Listening | undefined
  const { server, tlsListener } = createListeners(runtime, config, listenerSources, () => plainListening)
  return {
    runtime,
    server,
    port: () => {
      const a = server.address()
      return typeof a === 'object' && a !== null ? a.port : 0
    },
    listen: async () => {
      const socket = { backlog: LISTEN_BACKLOG, reusePort: config.listen.reusePort === true }
      plainListening = await listenOn(server, config.listen.port, config.listen.host, socket)
      await tlsListener?.listen(socket)
    },
    drain: async (timeoutMs) => {
      plainListening?.closeExtra()
      await Promise.all([drainServer(server, runtime, timeoutMs), tlsListener?.drain(timeoutMs)])
      closeLeasers()
      for (const { limiter } of runtime.context.limiters.values()) limiter.close()
      tokens?.close()
      diagnostics.unsubscribe(circuitChannel.name, onCircuit)
      await Promise.all([...runtime.context.pools.values()].map((p) => p.close()))
      observability?.close()
    },
    apply: (msg: PrimaryMessage) => {
      if (msg.type === 'lb:incr-result') counter.onMessage(msg)
      else if (msg.type === 'lb:rl-grant') tokens?.handleGrant(msg)
      else if (msg.type === 'lb:reload') {
        reloadContext(runtime, msg.config, send, { sequence, tokens })
        if (msg.config.tls !== undefined) tlsListener?.reloadCertificates(msg.config.tls.certificates)
      }
      else applyToPools(runtime.context, msg)
    },
  }
}

/**
 * Global round robin (cluster workers only; undefined in-process): each pool's sequence is leased from
 * the primary's store in blocks. Returns the pools' sequence factory and the function that stops leasing.
 */
function globalRoundRobin(counter: IpcCounter): { sequence: NonNullable<ProxyContextExtras['sequence']>; close: () => void } {
  const leasers = new Map<string, SequenceLeaser>()
  const sequence = (pool: string): (() => number | undefined) | undefined => {
    if (!cluster.isWorker) return undefined
    let leaser = leasers.get(pool)
    if (leaser === undefined) {
      // 840 = lcm(1..8): a block is a whole number of rotations for up to 8 ready endpoints (and 10, 12,
      // 14, ...), so each worker's share of every endpoint differs by at most one request.
      leaser = new SequenceLeaser({ store: counter, key: `rr:${pool}`, blockSize: 840 })
      void leaser.start()
      leasers.set(pool, leaser)
    }
    const l = leaser
    return () => l.next()
  }
  return { sequence, close: () => leasers.forEach((l) => l.close()) }
}

/**
 * The process's listeners: the plain one (only redirecting to HTTPS with `tls.redirectHttp`) and the TLS
 * one when configured. Each is added to `sources` for the connection metrics.
 */
function createListeners(runtime: ProxyRuntime, config: LbConfig, sources: ListenerMetricsSource[], plainListening: () => Listening | undefined): { server: PlainServer; tlsListener: TlsListener | undefined } {
  const tls = config.tls
  const server = tls?.redirectHttp === true ? createRedirectServer(tls.port, config.limits) : createHttpServer(runtime, config.limits, config.listen)
  const tlsListener = tls === undefined ? undefined : createTlsServer(runtime, config.limits, tls)
  sources.push({ name: 'http', getConnections: (cb) => (plainListening() ?? server).getConnections(cb) })
  if (tlsListener !== undefined) {
    const source = { name: 'https', getConnections: (cb: (err: Error | null, n: number) => void) => tlsListener.getConnections(cb), tlsHandshakeErrors: 0 }
    tlsListener.server.on('tlsClientError', () => source.tlsHandshakeErrors++)
    sources.push(source)
  }
  return { server, tlsListener }
}

/**
 * Swaps in the context of a reloaded configuration. Requests in flight keep the objects they hold;
 * pools that were not taken over close once their in-flight requests finish. (Listener address and
 * server-level limits need a restart: `lb restart` / SIGUSR2.)
 */
function reloadContext(runtime: ProxyRuntime, config: LbConfig, send: (msg: WorkerMessage) => void, extras: ProxyContextExtras): void {
  const previous = runtime.context
  runtime.context = buildProxyContext(config, send, { ...extras, previous })
  for (const [name, pool] of previous.pools) if (runtime.context.pools.get(name) !== pool) void pool.close()
  for (const { limiter } of previous.limiters.values()) limiter.close()
}

/** Applies a primary's state message to this process's pools. */
export function applyToPools(ctx: ProxyContext, msg: PrimaryMessage): void {
  if (msg.type === 'lb:endpoint') {
    const pool = ctx.pools.get(msg.pool)
    if (pool === undefined) return
    const c = msg.change
    if ('healthy' in c) pool.setHealthy(msg.id, c.healthy)
    else if ('ejected' in c) pool.applyRemoteEjection(msg.id, c.ejected, c.durationMs)
    else if ('drained' in c) pool.setDrained(msg.id, c.drained)
    else if ('weight' in c) pool.setWeight(msg.id, c.weight)
  } else if (msg.type === 'lb:endpoints') {
    const pool = ctx.pools.get(msg.pool)
    if (pool === undefined) return
    for (const b of msg.add ?? []) pool.addEndpoint(b)
    for (const id of msg.remove ?? []) pool.removeEndpoint(id)
  }
}

