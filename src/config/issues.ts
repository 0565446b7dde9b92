/**
 * Turns schema issues into the one problem format of the balancer:
 * `FILE: path.to[1].field: what was expected, got X`. Also the small helpers the schema uses to write
 * its own messages (`show`, `didYouMean`).
 */
import type { z } from 'zod'

/** A path inside a configuration document: object keys and array indexes. */
export type ConfigPath = readonly PropertyKey[]

/** Renders a path as `pools.api.backends[1].url` (empty path: `(root)`). */
export function formatPath(path: ConfigPath): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else {
      const k = String(key)
      out += /^[A-Za-z0-9_$-]+$/.test(k) ? (out === '' ? k : `.${k}`) : `[${JSON.stringify(k)}]`
    }
  }
  return out === '' ? '(root)' : out
}

/** A short, quoted rendering of a value for messages: `"ftp://x"`, `42`, `a list`, `nothing`. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`
  if (typeof value === 'object') return Object.keys(value).length === 0 ? 'an empty mapping' : 'a mapping'
  return typeof value
}

/** Edit distance with adjacent transpositions (optimal string alignment), case-insensitive; small strings only. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1)
      const row = d[i]
      if (row !== undefined) row[j] = v
    }
  }
  return at(x.length, y.length)
}

/** The closest known word to `word` when it is plausibly a typo, else undefined. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const k of known) {
    const d = distance(word, k)
    if (d < bestDistance) {
      best = k
      bestDistance = d
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined
}

/** ` (did you mean "x"?)` or an empty string. */
export function didYouMean(word: unknown, known: readonly string[]): string {
  if (typeof word !== 'string') return ''
  const c = closest(word, known)
  return c === undefined ? '' : ` (did you mean "${c}"?)`
}

/** Reads the value at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: ConfigPath): unknown {
  let cur = root
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<PropertyKey, unknown>)[key]
  }
  return cur
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  record: 'a mapping',
}

/** One issue (zod's shape, loosely typed so nested union issues fit too). */
type Issue = z.core.$ZodIssue | z.core.$ZodRawIssue

/** Problems (`path: message`) for one issue; `root` is the parsed document, to show what was there. */
function describeIssue(issue: Issue, prefix: ConfigPath, root: unknown): [ConfigPath, string][] {
  const path = [...prefix, ...(issue.path ?? [])]
  const input = valueAt(root, path)
  const mine = typeof issue.message === 'string' && /^[a-z]/.test(issue.message)
  switch (issue.code) {
    case 'unrecognized_keys': {
      const lines = mine ? (issue.message ?? '').split('\n') : []
      return issue.keys.map((key, i) => [[...path, key], lines[i] ?? 'unknown key'])
    }
    case 'invalid_union': {
      // Pick the one branch that got past the type check; else report the union as a whole.
      const deep = issue.errors.filter((branch) => !branch.every((e) => (e.path ?? []).length === 0 && (e.code === 'invalid_type' || e.code === 'invalid_value')))
      if (deep.length === 1 && deep[0] !== undefined) return deep[0].flatMap((e) => describeIssue(e, path, root))
      if (mine) return [[path, withGot(issue.message ?? '', input)]]
      return [[path, `expected one of the accepted forms, got ${show(input)}`]]
    }
    default:
      break
  }
  if (mine) return [[path, withGot(issue.message ?? '', input)]]
  return [[path, withGot(defaultMessage(issue, input), input)]]
}

function withGot(message: string, input: unknown): string {
  return message.startsWith('expected') && !message.includes(', got ') ? `${message}, got ${show(input)}` : message
}

function defaultMessage(issue: Issue, input: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return `missing: expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${show(input)}${didYouMean(input, issue.values.map(String))}`
    case 'too_small':
      if (issue.origin === 'array') return `expected at least ${String(issue.minimum)} item(s)`
      if (issue.origin === 'string') return `expected at least ${String(issue.minimum)} character(s)`
      return `expected a number ${issue.inclusive === false ? '>' : '>='} ${String(issue.minimum)}`
    case 'too_big':
      if (issue.origin === 'array') return `expected at most ${String(issue.maximum)} item(s)`
      if (issue.origin === 'string') return `expected at most ${String(issue.maximum)} character(s)`
      return `expected a number ${issue.inclusive === false ? '<' : '<='} ${String(issue.maximum)}`
    case 'not_multiple_of':
      return `expected a multiple of ${String(issue.divisor)}`
    case 'invalid_format':
      return `expected a ${issue.format === 'regex' ? 'string matching the documented form' : issue.format}`
    case 'invalid_key':
      return `invalid key: ${issue.issues.map((i) => i.message).join('; ')}`
    default:
      return issue.message ?? 'invalid value'
  }
}

/**
 * Formats zod issues as `FILE: path: message` lines, sorted by appearance and de-duplicated.
 * `mapPath` rewrites paths (the seed format reports `backends[0]` rather than `pools.default.backends[0]`).
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], root: unknown, file: string, mapPath: (p: ConfigPath) => ConfigPath = (p) => p): string[] {
  const out: string[] = []
  for (const issue of issues) {
    for (const [path, message] of describeIssue(issue, [], root)) {
      const line = `${file}: ${formatPath(mapPath(path))}: ${message}`
      if (!out.includes(line)) out.push(line)
    }
  }
  return out
}
