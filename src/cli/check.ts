/**
 * `lb check --config FILE`: validates a configuration as `lb start` would (environment included) and
 * loads the TLS certificates and keys it references (as `nginx -t` does); prints `FILE: OK` with a
 * summary and any warnings (exit 0), or every problem on stderr, one per line (exit 1).
 */
import { relative } from 'node:path'
import { ConfigError, configWarnings, describeConfig, loadConfig } from '../config/index.js'
import { checkCertificates } from '../server/index.js'
import { parseCommandLine, UsageError } from './usage.js'

/** Help text of `lb check`. */
export const HELP = `Usage: lb check [-c FILE | FILE]

Validates a configuration file and prints every problem with its path, e.g.
  lb.config.yaml: pools.api.backends[1].url: expected an http:// or https:// URL, got "ftp://x"
The TLS certificates and keys it names are loaded too: a missing file, a file that is not PEM, or a key
that does not match its certificate is a problem naming the path.

Options:
  -c, --config FILE   file to check (default: LB_CONFIG, else lb.config.yaml/.yml/.json, else config/backends.json)
  -q, --quiet         print only problems
  -h, --help          show this help

Environment variables (PORT, REDIS_URL, LB_ADMIN_TOKEN, ...) apply as they would for 'lb start'.
Exit code: 0 when valid, 1 when not, 2 on a usage error.`

/** Runs `lb check`; resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(
    argv,
    { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, quiet: { type: 'boolean', short: 'q' } },
    HELP,
    1,
  )
  if (values.help === true) {
    console.log(HELP)
    return 0
  }
  if (positionals.length === 1 && values.config !== undefined) throw new UsageError('expected one configuration file, got --config and an argument', HELP)
  const file = values.config ?? positionals[0]
  try {
    const config = await loadConfig({ file })
    const label = file ?? (config.source.file === undefined ? 'configuration' : relative(process.cwd(), config.source.file))
    const problems = config.tls === undefined ? [] : checkCertificates(config.tls)
    if (problems.length > 0) {
      for (const problem of problems) console.error(`${label}: ${problem}`)
      return 1
    }
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
