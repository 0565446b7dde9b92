/**
 * The primary's composition: forks the workers, runs the active health checks, the shared state, the
 * rate-limit buckets, the admin server and the metrics listener, and reloads the configuration.
 */
import { fileURLToPath } from 'node:url'
import { hostname } from 'node:os'
import { createServer as createNetServer } from 'node:net'
import { randomBytes } from 'node:crypto'
import type { LbConfig } from '../config/index.js'
import { createStateStore, type StateStore } from '../state/index.js'
import { RateLimitPrimary, isRateLimitLeaseMessage } from '../ratelimit/index.js'
import { ActiveHealthChecker, describeUpstreamHttp1 } from '../upstream/index.js'
import { chooseHttp1Listener, describeHttp1Listener } from '../server/index.js'
import { Fleet, WorkerSupervisor, isWorkerMessage, type PrimaryMessage } from '../cluster/index.js'
import { createLogger, logEvents, InstanceStatsExchange, setHttp1ListenerLabel } from '../observability/index.js'

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
  // Loaded here, not at the top: the workers import this module too (through app.ts), and never use the
  // admin server (dashboard, API) or the configuration schema (zod, yaml); both cost each worker about
  // 15 MiB of RSS.
  const { AdminServer, MetricsServer, generateToken, isLoopbackHost } = await import('../admin/index.js')
  const { ConfigError } = await import('../config/index.js')
  // Without a configured token (loopback only: non-loopback refuses to start) a random one guards the
  // mutating calls; workers get it too, for decision traces (`x-lb-debug`).
  const adminToken = given.admin.token ?? (isLoopbackHost(given.admin.host) ? generateToken() : '')
  const withToken = (c: LbConfig): LbConfig => (c.admin.token !== undefined || adminToken === '' ? c : { ...c, admin: { ...c.admin, token: adminToken } })
  const config = withToken(given)
  const workerScript = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../worker.ts' : '../worker.js', import.meta.url))
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
  log(describeUpstreamHttp1())
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
