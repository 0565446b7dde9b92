/**
 * One proxy process inside the test process: the configuration goes through a temporary JSON file and
 * `loadConfig` (so it is validated exactly like `lb start --config`), then `createWorkerApp` listens on
 * 127.0.0.1 with an ephemeral port. Faster than {@link startBalancerProcess}; use that one when real
 * processes matter (cluster, RSS).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createWorkerApp, type ProxyProcess } from '../../src/app.js'
import { loadConfig } from '../../src/config/index.js'

/** A running in-process proxy. */
export interface InProcessProxy {
  readonly port: number
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly app: ProxyProcess
  /** Drains (short timeout), closes the pools and removes the temporary directory. Idempotent. */
  close(): Promise<void>
}

/**
 * Starts a proxy from `config` (the file format: `pools`, `routes`, `limits`, ...). `listen`'s address is
 * forced to 127.0.0.1:0 (its other fields are kept); the environment is not read (a host's `PORT` or `LOG_LEVEL` cannot leak in).
 */
export async function startProxy(config: Record<string, unknown>): Promise<InProcessProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'lb-inproc-'))
  let app: ProxyProcess
  try {
    const file = join(dir, 'lb.config.json')
    // The schema accepts ports 1-65535 only: validate with a placeholder, then bind port 0.
    await writeFile(file, JSON.stringify({ ...config, listen: { ...(config.listen as object | undefined), host: '127.0.0.1', port: 1 } }, null, 2))
    const loaded = await loadConfig({ file, env: {} })
    app = createWorkerApp({ ...loaded, listen: { ...loaded.listen, host: '127.0.0.1', port: 0 } })
    await app.listen()
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  const port = app.port()
  let closed: Promise<void> | undefined
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    app,
    close: () => {
      closed ??= (async () => {
        try {
          await app.drain(500)
        } finally {
          await rm(dir, { recursive: true, force: true })
        }
      })()
      return closed
    },
  }
}

/** A one-pool configuration over `backendUrls` with health checks off (tests drive state themselves). */
export function poolConfig(backendUrls: readonly string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    workers: 1,
    pools: {
      main: {
        backends: backendUrls.map((url) => ({ url })),
        healthCheck: { enabled: false },
        retries: { attempts: 1 },
      },
    },
    ...extra,
  }
}
