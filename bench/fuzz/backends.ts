/**
 * Logging backends of the fuzzer, in a worker thread (backend-thread.mjs) so that their answers and the
 * balancer's health probes do not wait for the client side of the fuzzer.
 */
import { Worker } from 'node:worker_threads'

/** What a backend saw. */
export type BackendEvent =
  | { kind: 'complete'; backend: string; method: string; url: string; marker: string | undefined; bodyHash: string; bodyLength: number; bodyStart: string }
  | { kind: 'aborted'; backend: string; method: string; url: string; marker: string | undefined }
  | { kind: 'parse-error'; backend: string; code: string; raw: string }

/** The running backends. */
export interface LoggingBackends {
  /** `http://127.0.0.1:PORT`, one per name, in order. */
  readonly urls: readonly string[]
  close(): Promise<void>
}

/** Path of the active health checks: answered, never reported. */
export const HEALTH_PATH = '/__fuzz_health'

/** Starts one backend per name on 127.0.0.1 (port 0); `onEvent` gets every request they see. */
export async function startLoggingBackends(names: readonly string[], onEvent: (e: BackendEvent) => void): Promise<LoggingBackends> {
  const worker = new Worker(new URL('./backend-thread.mjs', import.meta.url), { workerData: { names, healthPath: HEALTH_PATH } })
  let closed: (() => void) | undefined
  const urls = await new Promise<string[]>((resolve, reject) => {
    worker.once('error', reject)
    worker.on('message', (m: BackendEvent | { kind: 'ready'; urls: string[] } | { kind: 'closed' }) => {
      if (m.kind === 'ready') resolve(m.urls)
      else if (m.kind === 'closed') closed?.()
      else onEvent(m)
    })
  })
  return {
    urls,
    close: async () => {
      await new Promise<void>((resolve) => {
        closed = resolve
        worker.postMessage('close')
      })
      await worker.terminate()
    },
  }
}
