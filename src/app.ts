/**
 * Composition root: the only place that chooses implementations and wires the layers together.
 * `createWorkerApp` builds what one proxy process serves; `startBalancer` runs the primary
 * (workers, and in later layers the health checks, shared state and admin server).
 */
import { fileURLToPath } from 'node:url'
import type { LbConfig } from './config/index.js'
import { SequenceLeaser, createStateStore, type StateStore } from './state/index.js'
import {
  InProcessTokenSource,
  LocalTokenSource,
  RateLimitAuthority,
  RateLimitPrimary,
  RouteRateLimiter,
  formatRateLimitPolicy,
  isRateLimitLeaseMessage,
  type TokenSource,
} from './ratelimit/index.js'
import { hostname } from 'node:os'
import { createServer as createNetServer } from 'node:net'
import { randomBytes } from 'node:crypto'
import { ActiveHealthChecker, UpstreamPool, type UpstreamPoolOptions } from './upstream/index.js'
import { ClientAddressResolver, Router, type ProxyContext, type ProxyRuntime } from './proxy/index.js'
import { chooseHttp1Listener, createHttpServer, createRedirectServer, createTlsServer, describeHttp1Listener, drainServer, type PlainServer } from './server/index.js'
import { Fleet, IpcCounter, WorkerSupervisor, isWorkerMessage, type PrimaryMessage, type WorkerApp, type WorkerMessage } from './cluster/index.js'
import { circuitChannel, FailureThrottle, type CircuitEvent } from './core/index.js'
import diagnostics from 'node:diagnostics_channel'
import cluster from 'node:cluster'
import { startWorkerObservability, createLogger, logEvents, InstanceStatsExchange, setHttp1ListenerLabel, type ListenerMetricsSource } from './observability/index.js'

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
  const onLocalEjection: UpstreamPoolOptions['onLocalEjection'] = (pool, change) =>
    send({ type: 'lb:ejection', pool, id: change.id, ejected: change.ejected, durationMs: change.durationMs })
  for (const pool of Object.values(config.pools)) {
    const before = extras.previous?.pools.get(pool.name)
    const same = before !== undefined && JSON.stringify(before.config) === JSON.stringify(pool)
    pools.set(pool.name, same ? before : new UpstreamPool(pool, { onLocalEjection, sequence: extras.sequence }))
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
  // Global round robin: blocks of each pool's sequence, leased from the primary's store (cluster only).
  const counter = new IpcCounter(send)
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
  const tls = config.tls
  // With `tls.redirectHttp` the plain listener only redirects to HTTPS.
  const server = tls?.redirectHttp === true ? createRedirectServer(tls.port, config.limits) : createHttpServer(runtime, config.limits, config.listen)
  const tlsListener = tls === undefined ? undefined : createTlsServer(runtime, config.limits, tls)
  listenerSources.push({ name: 'http', getConnections: (cb) => server.getConnections(cb) })
  if (tlsListener !== undefined) {
    const source = { name: 'https', getConnections: (cb: (err: Error | null, n: number) => void) => tlsListener.server.getConnections(cb), tlsHandshakeErrors: 0 }
    tlsListener.server.on('tlsClientError', () => source.tlsHandshakeErrors++)
    listenerSources.push(source)
  }
  return {
    runtime,
    server,
    port: () => {
      const a = server.address()
      return typeof a === 'object' && a !== null ? a.port : 0
    },
    listen: async () => {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ port: config.listen.port, host: config.listen.host, backlog: LISTEN_BACKLOG }, () => {
          server.off('error', reject)
          resolve()
        })
      })
      await tlsListener?.listen()
    },
    drain: async (timeoutMs) => {
      await Promise.all([drainServer(server, runtime, timeoutMs), tlsListener?.drain(timeoutMs)])
      for (const l of leasers.values()) l.close()
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

/** A running balancer (primary side). */
export interface RunningBalancer {
  readonly supervisor: WorkerSupervisor
  /** Endpoint control: health, drain, weight, add/remove (the admin API's backend). */
  readonly fleet: Fleet
  /** The admin server (dashboard, metrics, API) and its token (generated when none was configured). */
  readonly admin: { readonly url: string; readonly token: string; readonly tokenGenerated: boolean }
  /** URL of the metrics listener (`metrics: { host, port }`), when configured. */
  readonly metricsUrl: string | undefined
  /** Shared state (memory, or Redis across instances). */
  readonly store: StateStore
  /**
   * Reloads the configuration (SIGHUP, POST /api/reload) with no dropped connection. Resolves with
   * the problems when the new configuration is invalid: then nothing changes.
   */
  reload(): Promise<{ ok: boolean; problems: string[] }>
  /** Replaces every worker one by one (SIGUSR2, `lb restart`): no failed request. */
  restartWorkers(): Promise<void>
  /** Drains workers and stops everything the primary runs. */
  stop(): Promise<void>
}

/** Options of {@link startBalancer}. */
export interface StartOptions {
  /** Extra node flags for the workers (`--cpu-prof` ...). */
  workerExecArgv?: string[]
  scheduling?: 'rr' | 'none'
  log?: (line: string) => void
  /** Loads the configuration again for a reload (same sources as at start); without it, reload is refused. */
  reloadConfig?: () => Promise<LbConfig>
}

/**
 * V8 flags for the proxy workers (before the user's own): `--expose-gc` lets proxy/relay-memory.ts run a
 * young-generation collection after every few MB relayed, so RSS stays bounded during large transfers.
 */
const WORKER_V8_FLAGS = ['--expose-gc']

/**
 * One line for a listener that could not bind: `cannot listen on 127.0.0.1:9901 (admin server): address
 * already in use`. A worker's failure arrives as text (`listen EADDRINUSE: address already in use
 * 0.0.0.0:8080`), which names the address itself. Other errors pass through.
 */
function listenError(err: unknown, what: string, at?: { host: string; port: number }): unknown {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number }
  const text = err instanceof Error ? err.message : String(err)
  const code = e.code ?? /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(text)?.[1]
  const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : code === 'EADDRNOTAVAIL' ? 'address not available on this host' : undefined
  if (why === undefined) return err
  const address = at !== undefined ? `${at.host}:${at.port}` : (/(\S+:\d+)\s*$/.exec(text)?.[1] ?? 'its address')
  return new Error(`cannot listen on ${address} (${what}): ${why}`, { cause: err })
}

/** Binds `host:port` once and lets it go: rejects with the bind error (EADDRINUSE, EACCES, ...). */
function probeListen(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer()
    probe.once('error', reject)
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()))
  })
}

/** Starts the primary: forks the workers and waits until every one listens. */
export async function startBalancer(given: LbConfig, options: StartOptions = {}): Promise<RunningBalancer> {
  // Loaded here, not at the top: the workers import this module too, and never use the admin server
  // (dashboard, API) or the configuration schema (zod, yaml); both cost each worker about 15 MiB of RSS.
  const { AdminServer, MetricsServer, generateToken, isLoopbackHost } = await import('./admin/index.js')
  const { ConfigError } = await import('./config/index.js')
  // Without a configured token (loopback only: non-loopback refuses to start) a random one guards the
  // mutating calls; workers get it too, for decision traces (`x-lb-debug`).
  const adminToken = given.admin.token ?? (isLoopbackHost(given.admin.host) ? generateToken() : '')
  const withToken = (c: LbConfig): LbConfig => (c.admin.token !== undefined || adminToken === '' ? c : { ...c, admin: { ...c.admin, token: adminToken } })
  const config = withToken(given)
  const workerScript = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url))
  // The closures below run only after `fleet` exists (workers speak once forked).
  const supervisor: WorkerSupervisor = new WorkerSupervisor(config, {
    workerScript,
    execArgv: [...WORKER_V8_FLAGS, ...process.execArgv, ...(options.workerExecArgv ?? [])],
    scheduling: options.scheduling ?? (process.env.LB_SCHEDULING === 'none' ? 'none' : 'rr'),
    log: options.log,
    replay: (): PrimaryMessage[] => fleet.registry.replay(),
    onMessage: (worker, msg) => {
      if (isRateLimitLeaseMessage(msg)) void rateLimits.handle(msg).then((grant) => worker.isConnected() && worker.send(grant))
      else if (isWorkerMessage(msg)) fleet.onWorkerMessage(worker, msg)
    },
  })
  const store = createStateStore(config.state)
  const log = options.log ?? ((line: string) => console.log(line))
  // Rate-limit buckets: `local` routes here (all workers of this instance), `global` in the store.
  const rateLimits = new RateLimitPrimary({ store })
  store.onStatus((status) => log(`lb: state store ${config.state.kind}: ${status === 'up' ? 'up' : 'degraded (serving from the last known state)'}`))
  // Active checks run in the primary, once per pool across all instances sharing the store.
  const instanceId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
  const fleet: Fleet = new Fleet({
    config,
    supervisor,
    store,
    instanceId,
    log,
    createChecker: (pool) => (pool.healthCheck.enabled ? new ActiveHealthChecker({ pool: pool.name, config: pool.healthCheck, protocol: pool.protocol, upstreamTls: pool.upstreamTls }) : undefined),
  })
  let reloading: Promise<{ ok: boolean; problems: string[] }> | undefined
  const reload = async (): Promise<{ ok: boolean; problems: string[] }> => {
    if (options.reloadConfig === undefined) return { ok: false, problems: ['reload is not available for this configuration source'] }
    try {
      const next = withToken(await options.reloadConfig())
      await fleet.reload(next)
      log(`lb: configuration reloaded (${Object.keys(next.pools).length} pools, ${next.routes.length} routes)`)
      return { ok: true, problems: [] }
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [err instanceof Error ? err.message : String(err)]
      log(`lb: reload rejected, the running configuration stays:\n  ${problems.join('\n  ')}`)
      return { ok: false, problems }
    }
  }
  // One reload at a time: a second request waits for the first and reloads again after it.
  const serialReload = (): Promise<{ ok: boolean; problems: string[] }> =>
    (reloading = (reloading ?? Promise.resolve({ ok: true, problems: [] })).then(reload, reload))
  // The workers choose the same way (same Node, same environment): the primary names the choice once.
  const listener = chooseHttp1Listener()
  setHttp1ListenerLabel(listener.kind)
  log(describeHttp1Listener(listener))
  // Admin server first: a taken admin port fails the start before any worker is forked.
  let draining = false
  const stopEventLog = logEvents(createLogger(config.log.level, { role: 'primary' }, config.log.format))
  const admin = new AdminServer({
    host: config.admin.host,
    port: config.admin.port,
    token: adminToken,
    allowedHosts: config.admin.allowedHosts,
    fleet,
    workers: () => supervisor.workers().length,
    isReady: () => !draining && supervisor.workers().length > 0,
    reload:
      options.reloadConfig === undefined
        ? undefined
        : async () => {
            const r = await serialReload()
            return r.ok ? { ok: true } : { ok: false, problems: r.problems }
          },
    stateStoreUp: () => store.health() === 'up',
    // One dashboard for every instance sharing the store.
    instanceStats: store.scope === 'global' ? new InstanceStatsExchange({ store, instanceId }) : undefined,
  })
  // The metrics listener serves the admin server's exposition; it is started before the workers too.
  const metricsServer = config.metrics === undefined ? undefined : new MetricsServer({ ...config.metrics, metricsText: () => admin.metricsText() })
  try {
    await admin.start().catch((err: unknown) => { throw listenError(err, 'admin server', config.admin) })
    await metricsServer?.start().catch((err: unknown) => { throw listenError(err, 'metrics listener', config.metrics) })
    // The primary binds the proxy ports itself first: a taken port is then one clear line, before any
    // worker is forked (on Node 26 a worker whose round-robin listen fails crashes inside node:net).
    await probeListen(config.listen.host, config.listen.port).catch((err: unknown) => { throw listenError(err, 'proxy listener', config.listen) })
    if (config.tls !== undefined) {
      const tlsAt = { host: config.tls.host, port: config.tls.port }
      await probeListen(tlsAt.host, tlsAt.port).catch((err: unknown) => { throw listenError(err, 'TLS listener', tlsAt) })
    }
    await supervisor.start().catch((err: unknown) => { throw listenError(err, 'proxy listener') })
  } catch (err) {
    // Workers that did start must not keep the process alive.
    await supervisor.stop()
    await metricsServer?.close()
    await admin.close()
    await store.close()
    stopEventLog()
    throw err
  }
  await fleet.start()
  return {
    supervisor,
    fleet,
    store,
    reload: serialReload,
    restartWorkers: () => supervisor.rollingRestart(),
    admin: { url: admin.url(), token: adminToken, tokenGenerated: given.admin.token === undefined },
    metricsUrl: metricsServer?.url(),
    stop: async () => {
      draining = true
      await fleet.stop()
      await supervisor.stop()
      await metricsServer?.close()
      await admin.close()
      await store.close()
      stopEventLog()
    },
  }
}
