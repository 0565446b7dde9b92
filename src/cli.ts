#!/usr/bin/env node
/**
 * The `lb` command: parses the subcommand, then hands over to `cli/<command>.ts`.
 * Each command module exports `run(argv: string[]): Promise<number>` returning the exit code
 * (long-running commands resolve only when they stop).
 */
const USAGE = `Usage: lb <command> [options]

Commands:
  start [--config FILE] [--port N] [--workers N] [--profile DIR]
                         run the load balancer (default config: lb.config.yaml/json, else config/backends.json)
  demo                   start three sample backends and the balancer on :8080, print the URLs
  check --config FILE    validate a configuration; print every problem with its path; exit 1 if any
  bench [--target URL] [--connections N] [--duration 10s]
                         load test with live progress and a final table; without --target it starts
                         sample backends and the balancer itself; --compare round-robin,p2c,ewma

Run 'lb <command> --help' for the options of one command.`

const commands: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  start: () => import('./cli/start.js'),
  demo: () => import('./cli/demo.js'),
  check: () => import('./cli/check.js'),
  bench: () => import('./cli/bench.js'),
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE)
    return name === undefined ? 1 : 0
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs')
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    console.log(pkg.version)
    return 0
  }
  const load = commands[name]
  if (load === undefined) {
    console.error(`lb: unknown command '${name}'\n\n${USAGE}`)
    return 1
  }
  const command = await load()
  return command.run(rest)
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    console.error('lb:', err instanceof Error ? (err.stack ?? err.message) : err)
    process.exitCode = 1
  },
)
