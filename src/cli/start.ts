import { parseArgs } from 'node:util'
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { loadConfig, describeConfig, ConfigError, type LbConfig } from '../config/index.js'
import { startBalancer } from '../app.js'

const HELP = `Usage: lb start [options]

Runs the load balancer until SIGINT/SIGTERM (graceful drain, exit 0). SIGHUP reloads the configuration
(an invalid file is rejected and the running configuration stays); SIGUSR2 replaces the workers one by one.

Options:
  --config FILE    configuration file (default: $LB_CONFIG, ./lb.config.yaml|.yml|.json, else ./config/backends.json)
  --port N         listen port (overrides the file and $PORT)
  --workers N      worker processes (overrides the file and $WORKER_COUNT)
  --profile DIR    write a CPU profile of every worker into DIR when it exits
  -h, --help       this help

Environment: PORT, WORKER_COUNT, REDIS_URL, HEALTH_CHECK_INTERVAL, HEALTH_CHECK_PATH, ADMIN_HOST, ADMIN_PORT,
LB_ADMIN_TOKEN, LB_STICKY_SECRET, LB_CONFIG, LOG_LEVEL, LB_HTTP1_SERVER=node (see docs/configuration.md).`

/** `lb start`: load the configuration (every problem reported, exit 1), then run until a signal. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      workers: { type: 'string' },
      profile: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  })
  if (values.help === true) {
    console.log(HELP)
    return 0
  }
  let config
  // The same sources at start and on every reload (SIGHUP, POST /api/reload).
  const load = (): Promise<LbConfig> =>
    loadConfig({
      flags: {
        config: values.config,
        port: values.port === undefined ? undefined : parseIntFlag('--port', values.port),
        workers: values.workers === undefined ? undefined : parseIntFlag('--workers', values.workers),
      },
    })
  try {
    config = await load()
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(p)
      return 1
    }
    throw err
  }
  const execArgv: string[] = []
  if (values.profile !== undefined) {
    const dir = resolve(values.profile)
    mkdirSync(dir, { recursive: true })
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`)
  }
  console.log(describeConfig(config))
  const balancer = await startBalancer(config, { workerExecArgv: execArgv, log: (l) => console.log(l), reloadConfig: load })
  console.log(`lb: admin ${balancer.admin.url} (dashboard, /metrics, /api/pools)`)
  if (balancer.admin.tokenGenerated) console.log(`lb: admin token for this run (set LB_ADMIN_TOKEN to choose one): ${balancer.admin.token}`)
  console.log(`lb: listening on http://${config.listen.host}:${config.listen.port} with ${config.workers} worker(s)`)
  await new Promise<void>((done) => {
    const stop = (signal: string): void => {
      console.log(`lb: ${signal}: draining (up to ${config.drainTimeoutMs} ms)`)
      balancer.stop().then(done, done)
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
    process.on('SIGHUP', () => {
      console.log('lb: SIGHUP: reloading the configuration')
      void balancer.reload()
    })
    process.on('SIGUSR2', () => {
      console.log('lb: SIGUSR2: replacing the workers one by one')
      balancer.restartWorkers().then(
        () => console.log('lb: every worker replaced'),
        (err: unknown) => console.error('lb: worker restart failed:', err),
      )
    })
  })
  console.log('lb: stopped')
  return 0
}

function parseIntFlag(name: string, value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new ConfigError([`${name}: expected a non-negative integer, got "${value}"`])
  return n
}
