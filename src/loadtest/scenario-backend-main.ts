/**
 * Runs one scenario backend (see `scenario-backend.ts`) as its own process, so the load generator's CPU
 * is measured alone: `node dist/loadtest/scenario-backend-main.js --name b1 --latency 5 --concurrency 16
 * [--degrade-after 5000 --degrade-latency 50] [--port 0]`. Prints `listening <port>` once ready; exits 0 on
 * SIGTERM/SIGINT, 1 when the arguments are wrong or it cannot listen.
 */
import { parseArgs } from 'node:util'
import { startScenarioBackend, type ScenarioBackendSpec } from './scenario-backend.js'

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'backend' },
    port: { type: 'string', default: '0' },
    latency: { type: 'string', default: '0' },
    concurrency: { type: 'string', default: '0' },
    'degrade-after': { type: 'string' },
    'degrade-latency': { type: 'string' },
  },
})

function count(flag: string, text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${flag}: expected a non-negative integer, got ${JSON.stringify(text)}`)
    process.exit(1)
  }
  return n
}

const spec: ScenarioBackendSpec = {
  name: values.name,
  latencyMs: count('latency', values.latency),
  concurrency: count('concurrency', values.concurrency),
  degrade:
    values['degrade-after'] === undefined || values['degrade-latency'] === undefined
      ? undefined
      : { afterMs: count('degrade-after', values['degrade-after']), latencyMs: count('degrade-latency', values['degrade-latency']) },
}

try {
  const backend = await startScenarioBackend(spec, count('port', values.port))
  process.stdout.write(`listening ${backend.port}\n`)
  const shutdown = (): void => {
    void backend.stop().then(() => process.exit(0))
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.once('SIGTERM', shutdown)
  process.once('SIGINT', shutdown)
} catch (err) {
  console.error(`scenario backend ${spec.name}: cannot listen: ${(err as Error).message}`)
  process.exit(1)
}
