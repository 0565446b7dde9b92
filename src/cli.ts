#!/usr/bin/env node
/**
 * The `lb` command: parses the subcommand, then hands over to `cli/<command>.ts`.
 * Each command module exports `run(argv: string[]): Promise<number>` returning the exit code
 * (long-running commands resolve only when they stop) and its `HELP` text.
 *
 * Exit codes: 0 success, 1 failure (invalid configuration, address in use, ...), 2 usage error (one
 * line naming the problem, then the usage). Errors print one line, never a stack trace (set
 * `LB_DEBUG=1` to see the stack of an unexpected error).
 */
import { UsageError, USAGE_EXIT_CODE } from './cli/usage.js'

const USAGE = `Usage: lb <command> [options]

Commands:
  start [-c FILE] [--port N] [--workers N] [--watch-config] [--profile DIR]
                         run the load balancer (default config: lb.config.yaml/json, else config/backends.json)
  demo [--port N] [--workers N]
                         start three sample backends and the balancer on :8080, print the URLs
  check [-c FILE]        validate a configuration (TLS certificates and keys included); print every
                         problem with its path; exit 1 if any
  config print [-c FILE] [--json]
                         print the effective configuration (defaults, file, environment, flags), secrets redacted
  bench [--target URL] [--connections N] [--duration 10s]
                         load test with live progress and a final table; without --target it starts
                         sample backends and the balancer itself; --compare round-robin,p2c,ewma
  version                print the version (also: lb --version)

Run 'lb <command> --help' for the options of one command.
Exit codes: 0 ok, 1 failure, 2 usage error.`

interface Command {
  run(argv: string[]): Promise<number>
}

const commands: Record<string, () => Promise<Command>> = {
  start: () => import('./cli/start.js'),
  demo: () => import('./cli/demo.js'),
  check: () => import('./cli/check.js'),
  config: () => import('./cli/config.js'),
  bench: () => import('./cli/bench.js'),
  version: () => import('./cli/version.js'),
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE)
    return 0
  }
  if (name === undefined) {
    console.error(`lb: expected a command\n\n${USAGE}`)
    return USAGE_EXIT_CODE
  }
  if (name === '--version' || name === '-v') {
    const { packageVersion } = await import('./cli/version.js')
    console.log(packageVersion())
    return 0
  }
  const load = commands[name]
  if (load === undefined) {
    console.error(`lb: unknown command '${name}'\n\n${USAGE}`)
    return USAGE_EXIT_CODE
  }
  const command = await load()
  try {
    return await command.run(rest)
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`lb ${name}: ${err.message}\n\n${err.usage}`)
      return USAGE_EXIT_CODE
    }
    // A command that parses its options itself (util.parseArgs) still gets a usage error, not a failure.
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      const text = err instanceof Error ? err.message : String(err)
      const line = (text.split('\n')[0] ?? text).split('. To specify a positional')[0] ?? text
      console.error(`lb ${name}: ${line.charAt(0).toLowerCase()}${line.slice(1)}\nRun 'lb ${name} --help' for the options.`)
      return USAGE_EXIT_CODE
    }
    throw err
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err)
    console.error(`lb: ${message.split('\n').join('\n  ')}`)
    if (process.env.LB_DEBUG === '1' && err instanceof Error && err.stack !== undefined) console.error(err.stack)
    process.exitCode = 1
  },
)
