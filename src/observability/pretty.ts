/**
 * `log.format: pretty`: human-readable log lines through `pino-pretty`, pino's own prettifier. It is an
 * optional package (a dev dependency here, not installed by `npm install --omit=dev`), loaded only when
 * the format asks for it; when it is missing the logs stay JSON and one line on stderr says how to get it.
 */
import { createRequire } from 'node:module'

/** A writable pretty stream: takes pino's JSON lines, writes them prettified to its destination. */
export interface PrettyStream {
  write(chunk: string): boolean
  end(): void
}

type PrettyFactory = (options: Record<string, unknown>) => PrettyStream

const require = createRequire(import.meta.url)
let warned = false

/** The message printed (once per process) when `pino-pretty` cannot be loaded. */
export const PRETTY_MISSING =
  'lb: log.format is "pretty" but the optional package pino-pretty is not installed (npm install pino-pretty); writing JSON lines instead'

/**
 * A pretty stream writing to `destination` (a file descriptor or a file path, created with its
 * directory), or undefined when `pino-pretty` is not installed (warned once on stderr).
 * `moduleName` exists for tests of the fallback.
 */
export function createPrettyStream(destination: number | string, moduleName = 'pino-pretty'): PrettyStream | undefined {
  let build: PrettyFactory
  try {
    build = require(moduleName) as PrettyFactory
  } catch (err) {
    if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err
    if (!warned) {
      warned = true
      process.stderr.write(`${PRETTY_MISSING}\n`)
    }
    return undefined
  }
  // Times as local wall-clock; `pid`/`hostname` are not in our lines anyway.
  return build({ destination, mkdir: typeof destination === 'string', sync: false, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
}
