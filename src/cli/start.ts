import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { loadConfig, describeConfig, configWarnings, watchConfigFile, ConfigError, type ConfigFlags, type LbConfig } from '../config/index.js'
import { startBalancer } from '../app.js'
import { checkCertificates } from '../server/index.js'
import { parseCommandLine, UsageError } from './usage.js'

/** Help text of `lb start`. */
export const HELP = `Usage: lb start [options]

Runs the load balancer until SIGINT/SIGTERM (graceful drain, exit 0). SIGHUP reloads the configuration
(an invalid file is rejected and the running configuration stays); SIGUSR2 replaces the workers one by one.

Options:
  -c, --config FILE  configuration file (default: $LB_CONFIG, ./lb.config.yaml|.yml|.json, else ./config/backends.json)
  --port N           listen port (overrides the file and $PORT)
  --workers N        worker processes (overrides the file and $WORKER_COUNT)
  --watch-config     reload when the configuration file changes (as SIGHUP; also 'watchConfig: true' in the file)
  --profile DIR      write a CPU profile of every worker into DIR when it exits
  -h, --help         this help

Environment: PORT, WORKER_COUNT, REDIS_URL, HEALTH_CHECK_INTERVAL, HEALTH_CHECK_PATH, ADMIN_HOST, ADMIN_PORT,
LB_ADMIN_TOKEN, LB_STICKY_SECRET, METRICS_HOST, METRICS_PORT, LB_CONFIG, LOG_LEVEL, LB_HTTP1_SERVER=node, LB_FAST_PATH=off (see docs/configuration.md).
Exit codes: 0 stopped by a signal, 1 invalid configuration or an address in use, 2 usage error.`

/** The options `lb start` and `lb config print` share: where the configuration comes from. */
export const CONFIG_OPTIONS = {
  config: { type: 'string', short: 'c' },
  port: { type: 'string' },
  workers: { type: 'string' },
} as const

/** Turns the parsed `--config/--port/--workers` into config flags; a non-number is a usage error. */
export function configFlags(values: { config?: string | undefined; port?: string | undefined; workers?: string | undefined }, usage: string): ConfigFlags {
  return {
    config: values.config,
    port: values.port === undefined ? undefined : parseIntFlag('--port', values.port, usage),
    workers: values.workers === undefined ? undefined : parseIntFlag('--workers', values.workers, usage),
  }
}

/** `lb start`: load the configuration (every problem reported, exit 1), then run until a signal. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(
    argv,
    { ...CONFIG_OPTIONS, 'watch-config': { type: 'boolean' }, profile: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    HELP,
  )
  if (values.help === true) {
    console.log(HELP)
    return 0
  }
  const flags = configFlags(values, HELP)
  // The same sources at start and on every reload (SIGHUP, POST /api/reload, a watched file change).
  const load = (): Promise<LbConfig> => loadConfig({ flags })
  let config: LbConfig
  try {
    config = await load()
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(p)
      return 1
    }
    throw err
  }
  // Certificates are loaded by the workers; a bad one is reported here first, naming the file.
  const certificateProblems = config.tls === undefined ? [] : checkCertificates(config.tls)
  if (certificateProblems.length > 0) {
    const label = config.source.file ?? 'configuration'
    for (const p of certificateProblems) console.error(`${label}: ${p}`)
    return 1
  }
  const execArgv: string[] = []
  if (values.profile !== undefined) {
    const dir = resolve(values.profile)
    mkdirSync(dir, { recursive: true })
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`)
  }
  console.log(describeConfig(config))
  for (const warning of configWarnings(config)) console.error(`lb: warning: ${warning}`)
  let balancer
  try {
    balancer = await startBalancer(config, { workerExecArgv: execArgv, log: (l) => console.log(l), reloadConfig: load })
  } catch (err) {
    // An address in use, a worker that cannot start: one line, no stack trace.
    console.error(`lb: ${err instanceof Error ? err.message : String(err)}`)
    return 1
  }
  const running = balancer
  console.log(`lb: admin ${running.admin.url} (dashboard, /metrics, /api/pools)`)
  if (running.metricsUrl !== undefined) console.log(`lb: metrics ${running.metricsUrl} (no token)`)
  if (running.admin.tokenGenerated) console.log(`lb: admin token for this run (set LB_ADMIN_TOKEN to choose one): ${running.admin.token}`)
  const file = config.source.file
  const watching = (values['watch-config'] === true || config.watchConfig === true) && file !== undefined
  const watcher = watching
    ? watchConfigFile(file, async () => {
        console.log(`lb: ${file} changed: reloading the configuration`)
        await running.reload()
      })
    : undefined
  if (watcher !== undefined) console.log(`lb: watching ${file} for changes`)
  console.log(`lb: listening on http://${config.listen.host}:${config.listen.port} with ${config.workers} worker(s)`)
  await new Promise<void>((done) => {
    const stop = (signal: string): void => {
      console.log(`lb: ${signal}: draining (up to ${config.drainTimeoutMs} ms)`)
      watcher?.close()
      running.stop().then(done, done)
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
    process.on('SIGHUP', () => {
      console.log('lb: SIGHUP: reloading the configuration')
      void running.reload()
    })
    process.on('SIGUSR2', () => {
      console.log('lb: SIGUSR2: replacing the workers one by one')
      running.restartWorkers().then(
        () => console.log('lb: every worker replaced'),
        (err: unknown) => console.error('lb: worker restart failed:', err instanceof Error ? err.message : err),
      )
    })
  })
  console.log('lb: stopped')
  return 0
}

function parseIntFlag(name: string, value: string, usage: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < 0) throw new UsageError(`${name}: expected a non-negative integer, got "${value}"`, usage)
  return n
}
