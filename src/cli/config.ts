/**
 * `lb config print`: the effective configuration after built-in defaults, the file, the environment
 * and the flags (what `lb start` with the same arguments would run), secrets redacted, as YAML (or JSON
 * with `--json`). Durations are milliseconds and sizes bytes, as the balancer uses them.
 */
import { stringify } from 'yaml'
import { ConfigError, loadConfig, redactConfig } from '../config/index.js'
import { CONFIG_OPTIONS, configFlags } from './start.js'
import { parseCommandLine, UsageError } from './usage.js'

/** Help text of `lb config`. */
export const HELP = `Usage: lb config print [-c FILE] [--port N] [--workers N] [--json]

Prints the effective configuration: built-in defaults, then the file, the environment (PORT, REDIS_URL,
LB_ADMIN_TOKEN, ...) and the flags, as 'lb start' with the same options would run it. Secrets (admin
token, Redis credentials, inline private keys, credential headers) are redacted. Durations are in ms,
sizes in bytes.

Options:
  -c, --config FILE  configuration file (default: $LB_CONFIG, ./lb.config.yaml|.yml|.json, else ./config/backends.json)
  --port N           listen port, as for lb start
  --workers N        worker processes, as for lb start
  --json             JSON instead of YAML
  -h, --help         this help

Exit code: 0, 1 when the configuration is invalid (every problem printed), 2 on a usage error.`

/** Runs `lb config <subcommand>`. */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    console.log(HELP)
    return 0
  }
  if (sub === undefined) throw new UsageError('expected a subcommand: print', HELP)
  if (sub !== 'print') throw new UsageError(`unknown subcommand '${sub}' (expected: print)`, HELP)
  const { values } = parseCommandLine(rest, { ...CONFIG_OPTIONS, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, HELP)
  if (values.help === true) {
    console.log(HELP)
    return 0
  }
  try {
    const config = redactConfig(await loadConfig({ flags: configFlags(values, HELP) }))
    process.stdout.write(values.json === true ? `${JSON.stringify(config, null, 2)}\n` : stringify(config))
    return 0
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    for (const problem of err.problems) console.error(problem)
    return 1
  }
}
