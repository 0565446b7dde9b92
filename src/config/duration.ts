/**
 * Durations and sizes as written in configuration files and environment variables.
 * Durations: `250ms`, `5s`, `1.5m`, `1h`, `2d` or a plain number (milliseconds).
 * Sizes: `512B`, `16KiB`, `1MiB`, `10MB` (decimal), `1GiB` or a plain number (bytes).
 */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
}

/** Pattern of a duration string (used in the JSON schema too). */
export const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*$'
/** Pattern of a size string (used in the JSON schema too). */
export const SIZE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*([KkMmGg]([Ii]?[Bb])?|[Bb])?\\s*$'

const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)?\s*$/

/**
 * Parses a duration into whole milliseconds (rounded). A number is taken as milliseconds.
 * Returns `undefined` for anything else: negative, non-finite, unknown unit, empty.
 * @example parseDuration('250ms') === 250; parseDuration('1m') === 60000; parseDuration(40) === 40
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined
  if (typeof value !== 'string') return undefined
  const m = DURATION_RE.exec(value)
  if (m === null) return undefined
  const unit = DURATION_UNITS[m[2] ?? 'ms']
  if (unit === undefined) return undefined
  const ms = Number(m[1]) * unit
  return Number.isFinite(ms) ? Math.round(ms) : undefined
}

/**
 * Parses a size into whole bytes (rounded down). A number is taken as bytes.
 * Units: B; KB/MB/GB (powers of 1000); KiB/MiB/GiB and K/M/G (powers of 1024). Units are case-insensitive:
 * `16kib` and `16KiB` are the same.
 * Returns `undefined` for anything else.
 * @example parseSize('16KiB') === 16384; parseSize('10MB') === 10000000; parseSize(512) === 512
 */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined
  if (typeof value !== 'string') return undefined
  const m = SIZE_RE.exec(value)
  if (m === null) return undefined
  const unit = SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]
  if (unit === undefined) return undefined
  const bytes = Number(m[1]) * unit
  return Number.isFinite(bytes) ? Math.floor(bytes) : undefined
}

/** Formats milliseconds back into the shortest exact unit (`30000` -> `30s`), for summaries. */
export function formatDuration(ms: number): string {
  for (const [unit, factor] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= factor && ms % factor === 0) return `${ms / factor}${unit}`
  }
  return `${ms}ms`
}

/** Formats bytes back into the shortest exact binary unit (`16384` -> `16KiB`), for summaries. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`
  }
  return `${bytes}B`
}
