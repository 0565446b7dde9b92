/**
 * Helpers for the admin/observability tests: a balancer process with a known admin port and token,
 * admin calls, and a strict parser of the Prometheus text exposition format (0.0.4).
 */
import { startBalancerProcess, type BalancerProcess, type BalancerProcessOptions } from './balancer-process.js'
import { getFreePorts, httpRequest, type HttpResult } from './net.js'

/** A balancer process plus its admin server. */
export interface AdminBalancer extends BalancerProcess {
  readonly adminPort: number
  readonly admin: string
  readonly token: string
  /** Calls the admin server; `token: null` sends no Authorization header. */
  call(method: string, path: string, options?: { body?: unknown; token?: string | null; raw?: string }): Promise<HttpResult>
  /** `GET /metrics`, parsed. */
  metrics(): Promise<Exposition>
}

/** Starts `lb start` with `config` (the file format), a free admin port and token `t0ken-for-tests`. */
export async function startAdminBalancer(config: Record<string, unknown>, options: BalancerProcessOptions = {}): Promise<AdminBalancer> {
  const [adminPort = 0, listenPort] = await getFreePorts(2)
  const token = 't0ken-for-tests'
  const lb = await startBalancerProcess({
    port: listenPort,
    ...options,
    config: { ...config, admin: { host: '127.0.0.1', port: adminPort, token, ...((config.admin as object | undefined) ?? {}) } },
    env: { ADMIN_PORT: String(adminPort), ...options.env },
  })
  const admin = `http://127.0.0.1:${adminPort}`
  const call: AdminBalancer['call'] = (method, path, o = {}) => {
    const headers: Record<string, string> = {}
    const tok = o.token === undefined ? token : o.token
    if (tok !== null) headers.authorization = `Bearer ${tok}`
    const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body))
    if (body !== undefined) headers['content-type'] = 'application/json'
    return httpRequest(`${admin}${path}`, { method, headers, body })
  }
  return Object.assign(lb, {
    adminPort,
    admin,
    token,
    call,
    metrics: async () => {
      const r = await call('GET', '/metrics', { token: null })
      if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body}`)
      return parseExposition(r.body)
    },
  })
}

/** One sample of an exposition. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** A parsed exposition: metric families (TYPE, HELP) and samples. */
export interface Exposition {
  types: Map<string, string>
  samples: Sample[]
  /** Sum of the samples named `name` whose labels include `match`. */
  sum(name: string, match?: Record<string, string>): number
  /** Samples named `name` whose labels include `match`. */
  find(name: string, match?: Record<string, string>): Sample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

/**
 * Parses the Prometheus text format strictly (as the Prometheus server's parser does): every line is
 * a comment, a HELP/TYPE line, blank, or a sample `name{labels} value [timestamp]` with valid names,
 * properly escaped label values, no repeated label, a float value; a TYPE line appears at most once
 * and before its samples; samples of one family are contiguous; no series (name + label set) twice;
 * histogram buckets carry `le`, are cumulative, and end with `+Inf` equal to `_count`. Throws with
 * the line number on the first violation.
 */
export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  const seen = new Set<string>()
  const closedFamilies = new Set<string>()
  let currentFamily = ''
  const fail = (n: number, why: string, line: string): never => {
    throw new Error(`exposition line ${n}: ${why}: ${JSON.stringify(line)}`)
  }
  const familyOf = (name: string): string => {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (name.endsWith(suffix)) {
        const base = name.slice(0, -suffix.length)
        const t = types.get(base)
        if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base
      }
    }
    return name
  }
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline')
  const lines = text.split('\n')
  lines.pop()
  lines.forEach((line, i) => {
    const n = i + 1
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line)
      if (m === null) return // plain comment
      const [, kind, name, rest] = m
      if (name === undefined || !NAME.test(name)) fail(n, 'bad metric name', line)
      if (kind === 'TYPE') {
        if (types.has(name as string)) fail(n, 'second TYPE line for the same metric', line)
        if (rest === undefined || !TYPES.has(rest)) fail(n, 'unknown type', line)
        if (closedFamilies.has(name as string) || samples.some((s) => familyOf(s.name) === name)) fail(n, 'TYPE after samples of the metric', line)
        types.set(name as string, rest as string)
      }
      return
    }
    let p = 0
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)
    if (nameMatch === null) return fail(n, 'expected a metric name', line)
    const name = nameMatch[0]
    p = name.length
    const labels: Record<string, string> = {}
    if (line[p] === '{') {
      p++
      for (;;) {
        if (line[p] === '}') {
          p++
          break
        }
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(p))
        if (lm === null || lm[1] === undefined) return fail(n, 'bad label', line)
        const lname = lm[1]
        if (!LABEL.test(lname) || lname.startsWith('__')) fail(n, 'bad label name', line)
        if (lname in labels) fail(n, `label ${lname} repeated`, line)
        p += lm[0].length
        let value = ''
        for (;;) {
          const c = line[p]
          if (c === undefined) return fail(n, 'unterminated label value', line)
          if (c === '"') break
          if (c === '\\') {
            const e = line[p + 1]
            if (e === 'n') value += '\n'
            else if (e === '\\' || e === '"') value += e
            else return fail(n, 'bad escape in label value', line)
            p += 2
            continue
          }
          value += c
          p++
        }
        p++
        labels[lname] = value
        if (line[p] === ',') p++
        else if (line[p] !== '}') fail(n, 'expected , or } after a label', line)
      }
    }
    if (line[p] !== ' ') fail(n, 'expected a space before the value', line)
    const parts = line.slice(p + 1).split(' ')
    if (parts.length > 2) fail(n, 'trailing garbage', line)
    const raw = parts[0] ?? ''
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : raw === 'NaN' ? NaN : Number(raw)
    if (raw === '' || (Number.isNaN(value) && raw !== 'NaN') || !/^[-+0-9.eEInfNa]+$/.test(raw)) fail(n, 'bad value', line)
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) fail(n, 'bad timestamp', line)
    const family = familyOf(name)
    if (family !== currentFamily) {
      if (closedFamilies.has(family)) fail(n, `samples of ${family} are not contiguous`, line)
      if (currentFamily !== '') closedFamilies.add(currentFamily)
      currentFamily = family
    }
    const key = `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`
    if (seen.has(key)) fail(n, `duplicate series ${key}`, line)
    seen.add(key)
    samples.push({ name, labels, value })
  })
  // Histogram consistency.
  for (const [name, type] of types) {
    if (type !== 'histogram') continue
    const groups = new Map<string, Sample[]>()
    for (const s of samples.filter((x) => x.name === `${name}_bucket`)) {
      if (s.labels.le === undefined) throw new Error(`${name}_bucket without le`)
      const rest = Object.entries(s.labels).filter(([k]) => k !== 'le').sort().map(([k, v]) => `${k}=${v}`).join(',')
      groups.set(rest, [...(groups.get(rest) ?? []), s])
    }
    for (const [rest, buckets] of groups) {
      const sorted = [...buckets].sort((a, b) => Number(a.labels.le) - Number(b.labels.le))
      for (let i = 1; i < sorted.length; i++) if ((sorted[i]?.value ?? 0) < (sorted[i - 1]?.value ?? 0)) throw new Error(`${name}{${rest}}: buckets not cumulative`)
      const inf = sorted.find((b) => b.labels.le === '+Inf')
      if (inf === undefined) throw new Error(`${name}{${rest}}: no +Inf bucket`)
      const count = samples.find((s) => s.name === `${name}_count` && Object.entries(s.labels).sort().map(([k, v]) => `${k}=${v}`).join(',') === rest)
      if (count === undefined || count.value !== inf.value) throw new Error(`${name}{${rest}}: _count differs from the +Inf bucket`)
    }
  }
  const matches = (s: Sample, match: Record<string, string>): boolean => Object.entries(match).every(([k, v]) => s.labels[k] === v)
  return {
    types,
    samples,
    find: (name, match = {}) => samples.filter((s) => s.name === name && matches(s, match)),
    sum: (name, match = {}) => samples.filter((s) => s.name === name && matches(s, match)).reduce((a, s) => a + s.value, 0),
  }
}
