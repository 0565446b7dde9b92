/**
 * Loads the load generator (autocannon) on demand. It is a development dependency, not a production one:
 * the proxy (`lb start`) never needs it, so a production install (`npm ci --omit=dev`, the Docker image)
 * leaves it and its ~65 packages out. `lb bench` calls {@link loadGenerator} first and, when the package is
 * missing, prints {@link LOAD_GENERATOR_MISSING} and exits 1 instead of failing with a stack trace.
 */
import type autocannon from 'autocannon'

/** The autocannon entry point (its default export). */
export type Autocannon = typeof autocannon

/** The package name `lb bench` imports, and the install command it suggests when it is missing. */
export const LOAD_GENERATOR_PACKAGE = 'autocannon'

/** The one line `lb bench` prints when the load generator is not installed. */
export const LOAD_GENERATOR_MISSING = `the load generator '${LOAD_GENERATOR_PACKAGE}' is not installed (production installs leave it out); install it with: npm install ${LOAD_GENERATOR_PACKAGE}`

/** Thrown by {@link loadGenerator} when the package cannot be resolved. */
export class LoadGeneratorMissingError extends Error {
  constructor(options?: { cause?: unknown }) {
    super(LOAD_GENERATOR_MISSING, options)
    this.name = 'LoadGeneratorMissingError'
  }
}

let loaded: Promise<Autocannon> | undefined

/**
 * Resolves with autocannon, importing it once per process. Rejects with {@link LoadGeneratorMissingError}
 * when the package itself is not installed; any other failure (a broken install) is rethrown as is.
 */
export function loadGenerator(): Promise<Autocannon> {
  loaded ??= importGenerator()
  return loaded
}

async function importGenerator(): Promise<Autocannon> {
  try {
    // A variable specifier keeps TypeScript from resolving it at build time; the type comes from the
    // type-only import above (@types/autocannon, a development dependency as well).
    const specifier: string = LOAD_GENERATOR_PACKAGE
    const mod = (await import(specifier)) as { default: Autocannon }
    return mod.default
  } catch (err) {
    loaded = undefined
    if (isMissing(err)) throw new LoadGeneratorMissingError({ cause: err })
    throw err
  }
}

/** True when the import failed because the package itself (not one of its own imports) is not there. */
function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false
  return err instanceof Error && err.message.includes(`'${LOAD_GENERATOR_PACKAGE}'`)
}
