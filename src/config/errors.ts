import { LbError } from '../core/index.js'

/**
 * An invalid configuration: every problem found, one line each, formatted
 * `FILE: path.to[1].field: what was expected, got X` (or `env NAME: ...`, `flag --name: ...`).
 * Code `LB_ERR_CONFIG`. The process exits 1 and serves nothing; a reload keeps the running configuration.
 */
export class ConfigError extends LbError {
  /** Every problem (schema problems, then cross-field rules, then environment and flags); never empty. */
  readonly problems: string[]
  /** Absolute path of the file that was read, if any. */
  readonly file: string | undefined

  constructor(problems: string[], file?: string, options?: { cause?: unknown }) {
    const list = problems.length > 0 ? problems : ['invalid configuration']
    super('LB_ERR_CONFIG', `invalid configuration (${list.length} problem${list.length === 1 ? '' : 's'}):\n  ${list.join('\n  ')}`, options)
    this.name = 'ConfigError'
    this.problems = list
    this.file = file
  }
}
