/**
 * Usage errors of the `lb` command line: a wrong option, a missing value, an extra argument. They are
 * the user's typing, not a failure of the balancer, so the CLI prints one line naming the problem and
 * then the command's usage, and exits 2 (as nginx, `haproxy -c` and POSIX utilities do), never a stack.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

/** Exit code of a usage error. */
export const USAGE_EXIT_CODE = 2

/** A usage error: `message` is one line; `usage` is the text printed after it. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message)
    this.name = 'UsageError'
  }
}

/**
 * `util.parseArgs` with strict options, whose errors become {@link UsageError}s carrying `usage`.
 * Positionals are refused unless `maxPositionals` allows them.
 */
export function parseCommandLine<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: O,
  usage: string,
  maxPositionals = 0,
): { values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>['values']; positionals: string[] } {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError(oneLine(err instanceof Error ? err.message : String(err)), usage)
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument '${parsed.positionals[maxPositionals] ?? ''}'`, usage)
  }
  return { values: parsed.values, positionals: parsed.positionals }
}

/** Node's parseArgs messages sometimes add a hint on a second line ("To specify a positional ..."): keep the first. */
function oneLine(message: string): string {
  const first = (message.split('\n')[0] ?? message).split('. To specify a positional')[0]?.trim() ?? message
  return first.charAt(0).toLowerCase() + first.slice(1)
}
