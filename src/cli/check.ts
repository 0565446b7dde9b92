/**
 * `lb check --config FILE`: validates a configuration as `lb start` would (environment included) and
 * prints `FILE: OK` with a summary and any warnings (exit 0), or every problem on stderr, one per line (exit 1).
 */
import { relative } from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError, configWarnings, describeConfig, loadConfig } from '../config/index.js'

const USAGE = `Usage: lb check [--config FILE]

Validates a configuration file and prints every problem with its path, e.g.
  lb.config.yaml: pools.api.backends[1].url: expected an http:// or https:// URL, got "ftp://x"

Options:
  -c, --config FILE   file to check (default: LB_CONFIG, else lb.config.yaml/.yml/.json, else config/backends.json)
  -q, --quiet         print only problems
  -h, --help          show this help

Environment variables (PORT, REDIS_URL, LB_ADMIN_TOKEN, ...) apply as they would for 'lb start'.
Exit code: 0 when valid, 1 when not.`

/** Runs `lb check`; resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  let values: { config?: string | undefined; help?: boolean | undefined; quiet?: boolean | undefined }
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({
      args: argv,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, quiet: { type: 'boolean', short: 'q' } },
      allowPositionals: true,
    }))
  } catch (err) {
    console.error(`lb check: ${(err as Error).message}\n\n${USAGE}`)
    return 1
  }
  if (values.help === true) {
    console.log(USAGE)
    return 0
  }
  if (positionals.length > 1 || (positionals.length === 1 && values.config !== undefined)) {
    console.error(`lb check: expected one configuration file\n\n${USAGE}`)
    return 1
  }
  const file = values.config ?? positionals[0]
  try {
    const config = await loadConfig({ file })
    const label = file ?? (config.source.file === undefined ? 'configuration' : relative(process.cwd(), config.source.file))
    console.log(`${label}: OK`)
    for (const warning of configWarnings(config)) console.error(`${label}: warning: ${warning}`)
    if (values.quiet !== true) console.log(describeConfig(config))
    return 0
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    for (const problem of err.problems) console.error(problem)
    return 1
  }
}
