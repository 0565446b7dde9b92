/**
 * Loads the configuration: finds the file, parses YAML or JSON, applies the environment and flags,
 * validates everything at once and returns the normalised `LbConfig`, or throws a `ConfigError` listing
 * every problem. Precedence: defaults < file < environment < flags.
 */
import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { crossCheck } from './cross-check.js'
import type { ConfigFlags } from './env.js'
import { applyOverrides } from './env.js'
import { resolveStickySecrets } from './sticky-secret.js'
import { checkUpstreamTlsFiles } from './upstream-tls-check.js'
import { ConfigError } from './errors.js'
import type { ConfigPath } from './issues.js'
import { formatIssues, formatPath, show } from './issues.js'
import { findJsonError } from './json-position.js'
import { configFileSchema } from './schema.js'
import type { LbConfig } from './types.js'

/** Options of {@link loadConfig}. Every field is optional. */
export interface LoadOptions {
  /**
   * A document in the file format (as parsed from YAML/JSON) to use instead of any file, e.g. for `lb demo`
   * and tests. Environment and flags still apply; problems are labelled `inline`. Not modified.
   */
  inline?: unknown
  /** Configuration file; wins over `flags.config`, `LB_CONFIG` and discovery. Relative to `cwd`. */
  file?: string | undefined
  /** Environment to read (default `process.env`). */
  env?: NodeJS.ProcessEnv | undefined
  /** CLI flags: highest precedence. */
  flags?: ConfigFlags | undefined
  /** Directory for discovery and relative paths (default `process.cwd()`). */
  cwd?: string | undefined
}

/** Files looked for in `cwd` when no file is named, in order. The last one is the seed format. */
export const DISCOVERY_ORDER = ['lb.config.yaml', 'lb.config.yml', 'lb.config.json', 'config/backends.json'] as const

const NO_CONFIG = 'no backends configured: create lb.config.yaml (see examples/lb.config.yaml) or config/backends.json ({ "backends": [{ "host": "127.0.0.1", "port": 3001 }] }), or pass --config FILE / set LB_CONFIG'

/** The file to read (absolute), or undefined when none was named and none exists. */
export function findConfigFile(options: LoadOptions = {}): string | undefined {
  const cwd = options.cwd ?? process.cwd()
  const env = options.env ?? process.env
  const named = options.file ?? options.flags?.config ?? (env.LB_CONFIG?.trim() === '' ? undefined : env.LB_CONFIG)
  if (named !== undefined) return resolve(cwd, named)
  for (const candidate of DISCOVERY_ORDER) {
    const abs = resolve(cwd, candidate)
    if (existsSync(abs)) return abs
  }
  return undefined
}

/** How a file is named in problems: relative to cwd when inside it, else absolute. */
function labelOf(abs: string, cwd: string): string {
  const rel = relative(cwd, abs)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs
}

/** Line and column (1-based) of a character offset. */
function lineCol(text: string, offset: number): [number, number] {
  const before = text.slice(0, offset).split('\n')
  return [before.length, (before.at(-1)?.length ?? 0) + 1]
}

/** Parses the text as JSON (`.json`) or YAML (anything else). Syntax problems name line and column. */
function parseText(text: string, abs: string, label: string): { doc: unknown; problems: string[] } {
  if (abs.endsWith('.json')) {
    try {
      return { doc: JSON.parse(text) as unknown, problems: [] }
    } catch (err) {
      const found = findJsonError(text)
      if (found === undefined) return { doc: undefined, problems: [`${label}: invalid JSON: ${(err as Error).message}`] }
      const [line, col] = lineCol(text, found.offset)
      return { doc: undefined, problems: [`${label}: line ${line}, column ${col}: invalid JSON: ${found.message}`] }
    }
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true })
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const pos = e.linePos?.[0]
      const where = pos === undefined ? '' : `line ${pos.line}, column ${pos.col}: `
      return `${label}: ${where}invalid YAML: ${(e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '')}`
    })
    return { doc: undefined, problems }
  }
  return { doc: doc.toJS({ maxAliasCount: 100 }) as unknown, problems: [] }
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

/** True when the document is the seed format (`{ backends: [...] }`, no pools). */
function isSeed(doc: unknown): doc is Obj {
  return isObj(doc) && 'backends' in doc && !('pools' in doc)
}

/** Validates an already-read document; returns the config or the problems. */
function validate(doc: unknown, abs: string | undefined, label: string, env: NodeJS.ProcessEnv, flags: ConfigFlags): { config?: LbConfig; problems: string[] } {
  const problems: string[] = []
  let kind: 'seed' | 'full' = 'full'
  let mapPath = (p: ConfigPath): ConfigPath => p
  let work: Obj
  if (isSeed(doc)) {
    kind = 'seed'
    for (const key of Object.keys(doc)) {
      if (key !== 'backends' && key !== '$schema') problems.push(`${label}: ${key}: unknown key (the seed format has only "backends"; use lb.config.yaml for more)`)
    }
    work = { pools: { default: { algorithm: 'round-robin', backends: doc.backends } } }
    mapPath = (p) => (p[0] === 'pools' && p[1] === 'default' && p[2] === 'backends' ? p.slice(2) : p)
  } else if (isObj(doc)) {
    work = doc
  } else {
    return { problems: [`${label}: (root): expected a mapping with pools (see examples/lb.config.yaml), got ${doc == null ? 'an empty file' : show(doc)}`] }
  }
  const envProblems = applyOverrides(work, env, flags)
  const parsed = configFileSchema.safeParse(work)
  if (!parsed.success) problems.push(...formatIssues(parsed.error.issues, work, label, mapPath))
  for (const p of crossCheck(work)) problems.push(`${label}: ${formatPath(mapPath(p.path))}: ${p.message}`)
  problems.push(...envProblems)
  if (problems.length > 0 || !parsed.success) return { problems }
  const config: LbConfig = { source: { file: abs, kind }, ...parsed.data }
  if (config.tls !== undefined && abs !== undefined) {
    const base = dirname(abs)
    const at = (p: string): string => (p.includes('-----BEGIN') ? p : resolve(base, p))
    config.tls.certificates = config.tls.certificates.map((c) => ({ ...c, cert: at(c.cert), key: at(c.key) }))
  }
  if (abs !== undefined) {
    const base = dirname(abs)
    for (const pool of Object.values(config.pools)) {
      const t = pool.upstreamTls
      if (t === undefined) continue
      if (t.ca !== undefined) t.ca = resolve(base, t.ca)
      if (t.cert !== undefined) t.cert = resolve(base, t.cert)
      if (t.key !== undefined) t.key = resolve(base, t.key)
    }
  }
  const lateProblems = [...resolveStickySecrets(config, env), ...checkUpstreamTlsFiles(config).map((p) => `${label}: ${p}`)]
  if (lateProblems.length > 0) return { problems: lateProblems }
  return { config, problems }
}

function loadInline(options: LoadOptions): LbConfig {
  const result = validate(structuredClone(options.inline), undefined, 'inline', options.env ?? process.env, options.flags ?? {})
  if (result.config === undefined) throw new ConfigError(result.problems)
  return result.config
}

function finish(text: string | undefined, readError: unknown, abs: string, options: LoadOptions): LbConfig {
  const cwd = options.cwd ?? process.cwd()
  const label = labelOf(abs, cwd)
  if (text === undefined) {
    const code = (readError as NodeJS.ErrnoException | undefined)?.code
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : ((readError as Error | undefined)?.message ?? 'unreadable')
    throw new ConfigError([`${label}: cannot read the configuration: ${why}`], abs, { cause: readError })
  }
  const { doc, problems } = parseText(text, abs, label)
  if (problems.length > 0) throw new ConfigError(problems, abs)
  const result = validate(doc, abs, label, options.env ?? process.env, options.flags ?? {})
  if (result.config === undefined) throw new ConfigError(result.problems, abs)
  return result.config
}

/**
 * Loads and validates the configuration (see {@link LoadOptions} for where the file comes from).
 * @throws ConfigError with every problem when anything is invalid, or when no file exists at all.
 */
export async function loadConfig(options: LoadOptions = {}): Promise<LbConfig> {
  if (options.inline !== undefined) return loadInline(options)
  const abs = findConfigFile(options)
  if (abs === undefined) throw new ConfigError([NO_CONFIG])
  let text: string | undefined
  let readError: unknown
  try {
    text = await readFile(abs, 'utf8')
  } catch (err) {
    readError = err
  }
  return finish(text, readError, abs, options)
}

/** Synchronous {@link loadConfig}, for callers that cannot await (scripts, tests); the balancer itself uses loadConfig. */
export function loadConfigSync(options: LoadOptions = {}): LbConfig {
  if (options.inline !== undefined) return loadInline(options)
  const abs = findConfigFile(options)
  if (abs === undefined) throw new ConfigError([NO_CONFIG])
  let text: string | undefined
  let readError: unknown
  try {
    text = readFileSync(abs, 'utf8')
  } catch (err) {
    readError = err
  }
  return finish(text, readError, abs, options)
}

/**
 * Validates one file as `lb start --config FILE` would (with `env`, default `process.env`).
 * @returns every problem, one line each; empty when the file is valid.
 */
export async function checkConfigFile(file: string, options: Omit<LoadOptions, 'file'> = {}): Promise<string[]> {
  try {
    await loadConfig({ ...options, file })
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}
