/** `lb version`: the balancer's version with the Node.js running it (`lb --version` prints the version alone). */
import { readFileSync } from 'node:fs'
import { parseCommandLine } from './usage.js'

/** Help text of `lb version`. */
export const HELP = `Usage: lb version

Prints the version of lb and of the Node.js running it. 'lb --version' prints the version alone.`

/** The version in package.json ('unknown' when it cannot be read). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    return 'unknown'
  }
}

/** Runs `lb version`. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { help: { type: 'boolean', short: 'h' } }, HELP)
  if (values.help === true) {
    console.log(HELP)
    return 0
  }
  console.log(`lb ${packageVersion()} (Node.js ${process.version}, ${process.platform}-${process.arch})`)
  return 0
}
