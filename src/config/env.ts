/**
 * Environment variables and CLI flags, validated and applied on top of the raw file document
 * (precedence: defaults < file < env < flags). Each bad value is a problem naming its source:
 * `env PORT: expected an integer 1-65535, got "abc"`.
 */
import { parseDuration } from './duration.js'
import { show } from './issues.js'
import { host } from './schema-parts.js'

/** CLI flags that override the file and the environment. */
export interface ConfigFlags {
  port?: number | undefined
  workers?: number | undefined
  /** Configuration file path (relative to cwd). */
  config?: string | undefined
}

/** The environment variables the balancer reads, with what each sets. */
export const ENV_VARS = {
  PORT: 'listen.port',
  REDIS_URL: 'state.redis.url',
  WORKER_COUNT: 'workers',
  HEALTH_CHECK_INTERVAL: 'pools.*.healthCheck.interval (ms)',
  HEALTH_CHECK_PATH: 'pools.*.healthCheck.path',
  ADMIN_HOST: 'admin.host',
  ADMIN_PORT: 'admin.port',
  LB_ADMIN_TOKEN: 'admin.token',
  METRICS_HOST: 'metrics.host',
  METRICS_PORT: 'metrics.port',
  LOG_LEVEL: 'log.level',
  LB_CONFIG: 'the configuration file',
  LB_STICKY_SECRET: 'pools.*.stickySession.secret (when not in the file)',
} as const

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

/** The object at `obj[key]`, created when absent; undefined when something else is there (the schema reports it). */
function section(obj: Obj, key: string): Obj | undefined {
  const cur = obj[key]
  if (cur === undefined) {
    const fresh: Obj = {}
    obj[key] = fresh
    return fresh
  }
  return isObj(cur) ? cur : undefined
}

function integer(source: string, value: string | number, min: number, max: number, problems: string[]): number | undefined {
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN
  if (Number.isInteger(n) && n >= min && n <= max) return n
  problems.push(`${source}: expected an integer ${min}-${max}, got ${show(value)}`)
  return undefined
}

/** Non-empty value of an environment variable (an empty value counts as unset). */
function read(env: NodeJS.ProcessEnv, name: keyof typeof ENV_VARS): string | undefined {
  const v = env[name]
  return v === undefined || v.trim() === '' ? undefined : v.trim()
}

/**
 * Applies the environment and then the flags to `doc` (the raw file document, modified in place) and
 * returns the problems of invalid values. `doc` must be a plain object.
 */
export function applyOverrides(doc: Obj, env: NodeJS.ProcessEnv, flags: ConfigFlags): string[] {
  const problems: string[] = []
  const set = (key: string, field: string, value: unknown): void => {
    const s = section(doc, key)
    if (s !== undefined) s[field] = value
  }

  const port = read(env, 'PORT')
  if (port !== undefined) {
    const n = integer('env PORT', port, 1, 65535, problems)
    if (n !== undefined) set('listen', 'port', n)
  }
  const redisUrl = read(env, 'REDIS_URL')
  if (redisUrl !== undefined) {
    if (!/^rediss?:\/\/\S+$/.test(redisUrl)) problems.push(`env REDIS_URL: expected a redis:// or rediss:// URL, got ${show(redisUrl)}`)
    else {
      const prev = isObj(doc.state) && isObj(doc.state.redis) ? doc.state.redis : {}
      doc.state = { redis: { url: redisUrl, ...(prev.keyPrefix === undefined ? {} : { keyPrefix: prev.keyPrefix }) } }
    }
  }
  const workers = read(env, 'WORKER_COUNT')
  if (workers !== undefined) {
    if (workers === 'auto') doc.workers = 'auto'
    else {
      const n = integer('env WORKER_COUNT', workers, 1, 1024, problems)
      if (n !== undefined) doc.workers = n
    }
  }
  const interval = read(env, 'HEALTH_CHECK_INTERVAL')
  const path = read(env, 'HEALTH_CHECK_PATH')
  let intervalMs: number | undefined
  if (interval !== undefined) {
    intervalMs = parseDuration(interval)
    if (intervalMs === undefined || intervalMs < 1) {
      problems.push(`env HEALTH_CHECK_INTERVAL: expected a duration in ms above 0 (e.g. 5000 or 5s), got ${show(interval)}`)
      intervalMs = undefined
    }
  }
  if (path !== undefined && !path.startsWith('/')) problems.push(`env HEALTH_CHECK_PATH: expected a path starting with /, got ${show(path)}`)
  if ((intervalMs !== undefined || (path?.startsWith('/') ?? false)) && isObj(doc.pools)) {
    for (const pool of Object.values(doc.pools)) {
      if (!isObj(pool)) continue
      const hc = section(pool, 'healthCheck')
      if (hc === undefined) continue
      if (intervalMs !== undefined) hc.interval = intervalMs
      if (path?.startsWith('/') ?? false) hc.path = path
    }
  }
  const adminHost = read(env, 'ADMIN_HOST')
  if (adminHost !== undefined) {
    if (host.safeParse(adminHost).success) set('admin', 'host', adminHost)
    else problems.push(`env ADMIN_HOST: expected a host name or IP address, got ${show(adminHost)}`)
  }
  const adminPort = read(env, 'ADMIN_PORT')
  if (adminPort !== undefined) {
    const n = integer('env ADMIN_PORT', adminPort, 1, 65535, problems)
    if (n !== undefined) set('admin', 'port', n)
  }
  const metricsHost = read(env, 'METRICS_HOST')
  const metricsPort = read(env, 'METRICS_PORT')
  if (metricsPort !== undefined) {
    const n = integer('env METRICS_PORT', metricsPort, 1, 65535, problems)
    if (n !== undefined) set('metrics', 'port', n)
  }
  if (metricsHost !== undefined) {
    // A host alone would turn on a listener without a port: say which variable is missing instead.
    if (metricsPort === undefined && !isObj(doc.metrics)) problems.push(`env METRICS_HOST: expected METRICS_PORT (or metrics.port in the file) as well`)
    else if (host.safeParse(metricsHost).success) set('metrics', 'host', metricsHost)
    else problems.push(`env METRICS_HOST: expected a host name or IP address, got ${show(metricsHost)}`)
  }
  const token = read(env, 'LB_ADMIN_TOKEN')
  if (token !== undefined) set('admin', 'token', token)
  const level = read(env, 'LOG_LEVEL')
  if (level !== undefined) {
    if (LOG_LEVELS.includes(level.toLowerCase())) set('log', 'level', level.toLowerCase())
    else problems.push(`env LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${show(level)}`)
  }

  if (flags.port !== undefined) {
    const n = integer('flag --port', flags.port, 1, 65535, problems)
    if (n !== undefined) set('listen', 'port', n)
  }
  if (flags.workers !== undefined) {
    const n = integer('flag --workers', flags.workers, 1, 1024, problems)
    if (n !== undefined) doc.workers = n
  }
  return problems
}
