/** In-process proxy for chaos tests that need to look inside a worker (pool state, breakers). */
import { loadConfig } from '../../src/config/index.js'
import { createWorkerApp, type ProxyProcess } from '../../src/app.js'
import type { UpstreamPool } from '../../src/upstream/index.js'

export interface InProcessProxy {
  readonly app: ProxyProcess
  readonly url: string
  pool(name?: string): UpstreamPool
  close(): Promise<void>
}

/** Loads `config` through the real schema (listen forced to 127.0.0.1:0) and serves it in this process. */
export async function startInProcessProxy(config: Record<string, unknown>): Promise<InProcessProxy> {
  const loaded = await loadConfig({ inline: { ...config, listen: { host: '127.0.0.1', port: 1 } }, env: {} })
  loaded.listen.port = 0
  const app = createWorkerApp(loaded)
  await app.listen()
  return {
    app,
    url: `http://127.0.0.1:${app.port()}`,
    pool: (name) => {
      const pools = app.runtime.context.pools
      const pool = pools.get(name ?? [...pools.keys()][0] ?? '')
      if (pool === undefined) throw new Error(`no pool ${name}`)
      return pool
    },
    close: () => app.drain(2000),
  }
}
