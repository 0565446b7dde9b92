/**
 * A purpose-built backend for `lb bench --compare`: every request waits `latencyMs` in one of
 * `concurrency` slots (a worker pool; further requests queue in arrival order), then gets a small 200 JSON
 * answer tagged `x-backend: <name>`. Optionally it degrades: `degrade.afterMs` after the scenario clock
 * starts, its latency becomes `degrade.latencyMs`. The clock starts with the backend and restarts on
 * `POST /_scenario/start` (sent by the bench right before the load), so "mid-run" means mid-load.
 * `GET /health` answers at once, outside the slots, so active health checks never queue behind load.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** What one scenario backend does. */
export interface ScenarioBackendSpec {
  name: string
  /** Time each request holds a slot, ms. */
  latencyMs: number
  /** Requests served at once; more wait in a FIFO queue. 0 = unlimited (pure delay). */
  concurrency: number
  /** Switch to `latencyMs` this long after the scenario clock starts. */
  degrade?: { afterMs: number; latencyMs: number } | undefined
}

/** A running scenario backend. */
export interface ScenarioBackend {
  readonly spec: ScenarioBackendSpec
  readonly port: number
  readonly url: string
  /** Requests served (health checks and control calls excluded). */
  served(): number
  /** Closes the listener and every connection. Idempotent. */
  stop(): Promise<void>
}

/** Starts one scenario backend on `host:port` (default 127.0.0.1, an ephemeral port). */
export async function startScenarioBackend(spec: ScenarioBackendSpec, port = 0, host = '127.0.0.1'): Promise<ScenarioBackend> {
  let clockStart = performance.now()
  let served = 0
  let busy = 0
  const queue: (() => void)[] = []

  const currentLatencyMs = (): number => {
    const d = spec.degrade
    return d !== undefined && performance.now() - clockStart >= d.afterMs ? d.latencyMs : spec.latencyMs
  }
  const release = (): void => {
    const next = queue.shift()
    if (next !== undefined) next()
    else busy--
  }
  const acquire = (run: () => void): void => {
    if (spec.concurrency === 0 || busy < spec.concurrency) {
      busy++
      run()
    } else {
      queue.push(run) // the slot passes straight to the next waiter in release()
    }
  }

  const server = http.createServer({ keepAlive: true, keepAliveTimeout: 5000 }, (req, res) => {
    res.setHeader('x-backend', spec.name)
    req.resume()
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/health') return void res.end('ok')
    if (path === '/_scenario/start' && req.method === 'POST') {
      clockStart = performance.now()
      return void res.end('started')
    }
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      release()
    }
    acquire(() => {
      if (res.destroyed) return finish()
      const timer = setTimeout(() => {
        served++
        const body = `{"backend":${JSON.stringify(spec.name)}}`
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        res.end(body)
        finish()
      }, currentLatencyMs())
      res.once('close', () => {
        clearTimeout(timer)
        finish()
      })
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const actualPort = (server.address() as AddressInfo).port
  let stopped: Promise<void> | undefined
  return {
    spec,
    port: actualPort,
    url: `http://127.0.0.1:${actualPort}`,
    served: () => served,
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return stopped
    },
  }
}
