import { loadConfig } from '../config/index.js'
import { startSampleBackends } from '../demo/index.js'
import { startBalancer } from '../app.js'
import { parseCommandLine } from './usage.js'

/** Help text of `lb demo`. */
export const HELP = `Usage: lb demo [--port 8080] [--workers N]

Starts three sample backends (ports 3001-3003, or free ones), the balancer on :8080 in front of them
(round robin) and prints the URLs to try. Ctrl-C stops all of it.`

/** `lb demo`: sample backends + balancer, for a first look. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { port: { type: 'string' }, workers: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, HELP)
  if (values.help === true) {
    console.log(HELP)
    return 0
  }
  const backends = await startSampleBackends(3, 3001)
  const port = values.port === undefined ? Number(process.env.PORT ?? 8080) : Number(values.port)
  const workers = values.workers === undefined ? Math.min(2, Number(process.env.WORKER_COUNT ?? 2)) : Number(values.workers)
  // The demo's configuration goes through the same schema and checks as a user's file.
  const config = await loadConfig({
    inline: {
      listen: { host: '0.0.0.0', port },
      workers,
      pools: {
        demo: {
          algorithm: 'round-robin',
          backends: backends.map((b) => ({ id: b.name, url: b.url })),
          healthCheck: { path: '/api/health', interval: '2s' },
        },
      },
    },
    flags: { port, workers },
  }).catch(async (err: unknown) => {
    await Promise.all(backends.map((b) => b.stop()))
    throw err
  })
  let balancer
  try {
    balancer = await startBalancer(config)
  } catch (err) {
    // Port 8080 taken, say: one line, and the sample backends must not keep the process alive.
    await Promise.all(backends.map((b) => b.stop()))
    console.error(`lb demo: ${err instanceof Error ? err.message : String(err)}`)
    return 1
  }
  const running = balancer
  const admin = balancer.admin.url
  console.log(
    [
      '',
      `  Load balancer  http://localhost:${port}   (${workers} workers, round robin)`,
      ...backends.map((b) => `  ${b.name.padEnd(13)}  ${b.url}`),
      `  Admin          ${admin}  (dashboard, /metrics, /api/pools)`,
      ...(balancer.admin.tokenGenerated ? [`  Admin token    ${balancer.admin.token}  (for drain/enable/weight; set LB_ADMIN_TOKEN to choose one)`] : []),
      '',
      'Try:',
      `  curl -i http://localhost:${port}/api/test          # x-backend rotates`,
      `  curl http://localhost:${port}/echo -d hello`,
      `  curl http://localhost:${port}/delay/500`,
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  )
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      console.log('lb demo: stopping')
      running
        .stop()
        .then(() => Promise.all(backends.map((b) => b.stop())))
        .then(() => resolve(), () => resolve())
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  return 0
}
