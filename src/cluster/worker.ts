import { isPrimaryMessage, type PrimaryMessage, type WorkerMessage } from './ipc.js'
import type { LbConfig } from '../config/index.js'

/** What a worker process runs: built from the configuration by the composition root. */
export interface WorkerApp {
  listen(): Promise<void>
  /** Stop accepting, finish in-flight requests (bounded), close. */
  drain(timeoutMs: number): Promise<void>
  /** Applies a state message from the primary. */
  apply(msg: PrimaryMessage): void
}

/**
 * Worker side of the IPC: waits for the configuration, builds and starts the app, applies state
 * messages, and drains then exits 0 on `lb:drain`, SIGTERM, SIGINT, or when the primary disappears.
 */
export function runWorker(build: (config: LbConfig, send: (msg: WorkerMessage) => void) => WorkerApp): void {
  let app: WorkerApp | undefined
  let draining = false
  let drainTimeoutMs = 30_000
  const send = (msg: WorkerMessage): void => {
    if (process.connected) process.send?.(msg)
  }
  const drain = (timeoutMs: number): void => {
    if (draining) return
    draining = true
    const done = (): never => process.exit(0)
    if (app === undefined) done()
    else app.drain(timeoutMs).then(done, done)
  }
  process.on('message', (msg: unknown) => {
    if (!isPrimaryMessage(msg)) return
    if (msg.type === 'lb:config' && app === undefined) {
      drainTimeoutMs = msg.config.drainTimeoutMs
      let built: WorkerApp
      try {
        built = build(msg.config, send)
      } catch (err) {
        // A listener that cannot be built (unreadable certificate, ...): report it like a failed listen,
        // so that the primary fails the start with the message instead of replacing crashing workers.
        send({ type: 'lb:failed', pid: process.pid, error: err instanceof Error ? err.message : String(err) })
        setTimeout(() => process.exit(1), 100)
        return
      }
      app = built
      built.listen().then(
        () => send({ type: 'lb:ready', pid: process.pid }),
        (err: unknown) => {
          send({ type: 'lb:failed', pid: process.pid, error: err instanceof Error ? err.message : String(err) })
          setTimeout(() => process.exit(1), 100)
        },
      )
    } else if (msg.type === 'lb:drain') {
      drain(msg.timeoutMs)
    } else {
      app?.apply(msg)
    }
  })
  send({ type: 'lb:hello', pid: process.pid })
  process.on('SIGTERM', () => drain(drainTimeoutMs))
  process.on('SIGINT', () => drain(drainTimeoutMs))
  process.on('disconnect', () => drain(drainTimeoutMs))
}
