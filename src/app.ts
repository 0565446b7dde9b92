/**
 * Composition root: the only place that chooses implementations and wires the layers together.
 * `createWorkerApp` builds what one proxy process serves; `startBalancer` runs the primary
 * (workers, and in later layers the health checks, shared state and admin server).
 */
import type { Server } from 'node:http'
import { fileURLToPath } from 'node:url'
import type { LbConfig } from './config/index.js'
import { ActiveHealthChecker, UpstreamPool, type UpstreamPoolOptions } from './upstream/index.js'
import { ClientAddressResolver, Router, type ProxyContext, type ProxyRuntime } from './proxy/index.js'
import { createHttpServer, drainServer } from './server/index.js'
import { Fleet, WorkerSupervisor, isWorkerMessage, type PrimaryMessage, type WorkerApp, type WorkerMessage } from './cluster/index.js'
import { circuitChannel, type CircuitEvent } from './core/index.js'
import diagnostics from 'node:diagnostics_channel'

/**
 * Builds the per-process proxy context (pools, router) from a configuration. `send` reports
 * passive ejections to the primary, which spreads them to the other workers.
 */
export function buildProxyContext(config: LbConfig, send: (msg: WorkerMessage) => void = () => undefined): ProxyContext {
  const pools = new Map<string, UpstreamPool>()
  const onLocalEjection: UpstreamPoolOptions['onLocalEjection'] = (pool, change) =>
    send({ type: 'lb:ejection', pool, id: change.id, ejected: change.ejected, durationMs: change.durationMs })
  for (const pool of Object.values(config.pools)) pools.set(pool.name, new UpstreamPool(pool, { onLocalEjection }))
  const firstPool = Object.keys(config.pools)[0]
  return {
    router: new Router(config.routes, firstPool),
    pools,
    limits: config.limits,
    clientAddress: new ClientAddressResolver(config.trustedProxies),
    via: config.via,
  }
}

/** A proxy process: listener, pools and the runtime flags, as run by a worker (or in-process). */
export interface ProxyProcess extends WorkerApp {
  readonly runtime: ProxyRuntime
  readonly server: Server
  /** The bound port (useful with port 0). */
  port(): number
}

/** Builds one proxy process from a configuration. `send` reports to the primary (no-op in-process). */
export function createWorkerApp(config: LbConfig, send: (msg: WorkerMessage) => void = () => undefined): ProxyProcess {
  const runtime: ProxyRuntime = { context: buildProxyContext(config, send), shuttingDown: false, inFlight: 0 }
  // Circuits are per worker; the primary collects their states for the admin view.
  const onCircuit = (m: unknown): void => {
    const e = m as CircuitEvent
    send({ type: 'lb:circuit', pool: e.pool, id: e.endpoint, state: e.state })
  }
  diagnostics.subscribe(circuitChannel.name, onCircuit)
  const server = createHttpServer(runtime, config.limits)
  return {
    runtime,
    server,
    port: () => {
      const a = server.address()
      return typeof a === 'object' && a !== null ? a.port : 0
    },
    listen: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(config.listen.port, config.listen.host, () => {
          server.off('error', reject)
          resolve()
        })
      }),
    drain: async (timeoutMs) => {
      await drainServer(server, runtime, timeoutMs)
      diagnostics.unsubscribe(circuitChannel.name, onCircuit)
      await Promise.all([...runtime.context.pools.values()].map((p) => p.close()))
    },
    apply: (msg: PrimaryMessage) => applyToPools(runtime.context, msg),
  }
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
  /** Drains workers and stops everything the primary runs. */
  stop(): Promise<void>
}

/** Options of {@link startBalancer}. */
export interface StartOptions {
  /** Extra node flags for the workers (`--cpu-prof` ...). */
  workerExecArgv?: string[]
  scheduling?: 'rr' | 'none'
  log?: (line: string) => void
}

/** Starts the primary: forks the workers and waits until every one listens. */
export async function startBalancer(config: LbConfig, options: StartOptions = {}): Promise<RunningBalancer> {
  const workerScript = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url))
  // The closures below run only after `fleet` exists (workers speak once forked).
  const supervisor: WorkerSupervisor = new WorkerSupervisor(config, {
    workerScript,
    execArgv: [...process.execArgv, ...(options.workerExecArgv ?? [])],
    scheduling: options.scheduling ?? (process.env.LB_SCHEDULING === 'none' ? 'none' : 'rr'),
    log: options.log,
    replay: (): PrimaryMessage[] => fleet.registry.replay(),
    onMessage: (worker, msg) => {
      if (isWorkerMessage(msg)) fleet.onWorkerMessage(worker, msg)
    },
  })
  // Active checks run here, once per instance, never once per worker.
  const fleet: Fleet = new Fleet({
    config,
    supervisor,
    createChecker: (pool) => (pool.healthCheck.enabled ? new ActiveHealthChecker({ pool: pool.name, config: pool.healthCheck }) : undefined),
  })
  await supervisor.start()
  fleet.start()
  return {
    supervisor,
    fleet,
    stop: async () => {
      await fleet.stop()
      await supervisor.stop()
    },
  }
}
