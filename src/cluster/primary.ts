import cluster, { type Worker } from 'node:cluster'
import { lifecycleChannel } from '../core/index.js'
import type { LbConfig } from '../config/index.js'
import { isWorkerMessage, type PrimaryMessage, type WorkerMessage } from './ipc.js'

/** Options of {@link WorkerSupervisor}. */
export interface SupervisorOptions {
  /** Absolute path of the worker entry script. */
  workerScript: string
  /** Extra node flags for workers (e.g. `--cpu-prof`). Defaults to this process's. */
  execArgv?: string[]
  /** `rr` (the primary accepts and hands out connections) or `none` (workers accept). */
  scheduling?: 'rr' | 'none'
  /** State messages sent to a new worker right after its configuration (see EndpointRegistry). */
  replay?: () => PrimaryMessage[]
  /** Receives every typed worker message. */
  onMessage?: (worker: Worker, msg: WorkerMessage) => void
  log?: (line: string) => void
}

/**
 * Runs the proxy workers: forks them, sends each the configuration, replaces any that dies
 * (throttled so a crash loop cannot spin), and drains them all on stop.
 */
export class WorkerSupervisor {
  private config: LbConfig
  private stopping = false
  private readonly restarts: number[] = []
  /** Workers drained on purpose (rolling restart): their exit is not a crash to replace. */
  private readonly retiring = new WeakSet<Worker>()
  /** Workers whose message listener is attached (they said hello): messages to others would be lost. */
  private readonly listening = new WeakSet<Worker>()
  /** Workers asked to drain before they said hello: they get the drain instead of a configuration. */
  private readonly drainOnHello = new WeakMap<Worker, number>()

  constructor(config: LbConfig, private readonly options: SupervisorOptions) {
    this.config = config
    cluster.schedulingPolicy = options.scheduling === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR
    cluster.setupPrimary({
      exec: options.workerScript,
      execArgv: options.execArgv ?? process.execArgv,
      serialization: 'advanced',
    })
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal))
  }

  /** Forks `config.workers` workers; resolves when all listen, rejects if one fails to start. */
  async start(): Promise<void> {
    const count = Math.max(1, this.config.workers)
    await Promise.all(Array.from({ length: count }, () => this.fork()))
  }

  /** Live workers that are not being retired. */
  workers(): Worker[] {
    return Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead() && !this.retiring.has(w))
  }

  /**
   * Sends a message to every live worker (but `except`) that listens already; a worker still loading
   * gets the current state through its configuration and the replay instead.
   */
  broadcast(msg: PrimaryMessage, except?: Worker): void {
    for (const w of this.workers()) if (w !== except && w.isConnected() && this.listening.has(w)) w.send(msg)
  }

  /** Configuration that new (replacement) workers get. */
  setConfig(config: LbConfig): void {
    this.config = config
  }

  /**
   * Replaces every worker, one at a time, with no moment without a listener: a new worker is forked
   * and listening before the old one drains (for upgrades: new workers load the code on disk).
   */
  async rollingRestart(): Promise<void> {
    const draining: Promise<void>[] = []
    for (const old of this.workers()) {
      await this.fork()
      // The old worker finishes its requests and tunnels (up to the drain timeout) while the next
      // one is replaced: capacity never drops below the configured worker count.
      draining.push(this.drainWorker(old))
    }
    await Promise.all(draining)
  }

  /** Drains every worker (bounded by the drain timeout) and resolves when all have exited. */
  async stop(): Promise<void> {
    this.stopping = true
    await Promise.all(this.workers().map((w) => this.drainWorker(w)))
  }

  /** Asks one worker to drain and resolves when it has exited (SIGKILL after the drain timeout + 5 s). */
  private drainWorker(w: Worker): Promise<void> {
    const timeoutMs = this.config.drainTimeoutMs
    this.retiring.add(w)
    return new Promise<void>((resolve) => {
      if (w.isDead()) return resolve()
      const kill = setTimeout(() => w.process.kill('SIGKILL'), timeoutMs + 5000)
      w.once('exit', () => {
        clearTimeout(kill)
        resolve()
      })
      if (!w.isConnected()) w.process.kill('SIGTERM')
      else if (this.listening.has(w)) w.send({ type: 'lb:drain', timeoutMs } satisfies PrimaryMessage)
      else this.drainOnHello.set(w, timeoutMs) // still loading: a message now would be lost
    })
  }

  private fork(): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = cluster.fork({ LB_WORKER: '1' })
      const onMessage = (msg: unknown): void => {
        if (!isWorkerMessage(msg)) return
        if (msg.type === 'lb:hello') {
          this.listening.add(worker)
          const drainMs = this.drainOnHello.get(worker)
          if (drainMs !== undefined) {
            worker.send({ type: 'lb:drain', timeoutMs: drainMs } satisfies PrimaryMessage)
            return
          }
          worker.send({ type: 'lb:config', config: this.config } satisfies PrimaryMessage)
          for (const m of this.options.replay?.() ?? []) worker.send(m)
        } else if (msg.type === 'lb:ready') {
          this.publish('worker-ready', worker.process.pid)
          resolve()
        } else if (msg.type === 'lb:failed') {
          reject(new Error(`worker ${msg.pid} failed to start: ${msg.error}`))
        }
        this.options.onMessage?.(worker, msg)
      }
      worker.on('message', onMessage)
      // A message sent to a worker that has just died fails with EPIPE after the send returned, as an
      // 'error' event on the worker: without a listener it would bring the primary (and every other
      // worker) down. The death itself is handled by onExit.
      worker.on('error', (err: NodeJS.ErrnoException) => this.options.log?.(`worker ${worker.process.pid}: message not delivered (${err.code ?? err.message})`))
      worker.once('exit', () => resolve()) // an early death is handled by onExit
    })
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    if (this.stopping || this.retiring.has(worker)) return
    const pid = worker.process.pid
    this.options.log?.(`worker ${pid} exited (${signal ?? code}); starting a replacement`)
    this.publish('worker-replaced', pid, String(signal ?? code))
    const now = Date.now()
    this.restarts.push(now)
    while (this.restarts.length > 0 && (this.restarts[0] as number) < now - 10_000) this.restarts.shift()
    // More than 10 deaths in 10 s: a crash loop. Slow down instead of spinning the CPU.
    const delay = this.restarts.length > 10 ? 1000 : 0
    setTimeout(() => {
      if (!this.stopping) this.fork().catch((err: unknown) => this.options.log?.(String(err)))
    }, delay).unref()
  }

  private publish(what: string, pid: number | undefined, detail?: string): void {
    if (lifecycleChannel.hasSubscribers) lifecycleChannel.publish({ what, pid: pid ?? 0, detail })
  }
}
