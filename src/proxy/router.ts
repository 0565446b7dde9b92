import type { HeaderEdits, RouteConfig } from '../config/index.js'
import { RouteIndex } from './route-index.js'

/** A route compiled for matching: everything parsed once at configuration time. */
export interface CompiledRoute {
  name: string
  pool: string
  hosts: { exact: Set<string>; suffixes: string[] } | undefined
  pathPrefix: string | undefined
  pathRegex: RegExp | undefined
  methods: Set<string> | undefined
  headers: [name: string, value: string][] | undefined
  stripPrefix: string | undefined
  replacePath: { pattern: RegExp; replacement: string } | undefined
  requestHeaders: CompiledEdits | undefined
  responseHeaders: CompiledEdits | undefined
  rateLimit: RouteConfig['rateLimit']
}

/** Header edits ready to apply: `set` names double as removals so the value is replaced. */
export interface CompiledEdits {
  remove: Set<string>
  /** Flat name/value list appended after the copy. */
  append: string[]
}

/**
 * Below this many routes a plain scan in order is cheaper than the index's lookups; from it on, the
 * routes are indexed by host and path prefix (see `route-index.ts`). Either way the first route whose
 * every condition holds wins.
 */
export const ROUTE_INDEX_FROM = 16

/** Options of {@link Router}, for tests. */
export interface RouterOptions {
  /** Route count from which the index is used (default {@link ROUTE_INDEX_FROM}). */
  indexFrom?: number
}

/**
 * Ordered routes: the first whose every condition holds wins. With no routes configured,
 * every request goes to the default pool (the first one).
 */
export class Router {
  private readonly routes: CompiledRoute[]
  private readonly fallback: CompiledRoute | undefined
  private readonly index: RouteIndex | undefined

  constructor(routes: readonly RouteConfig[], defaultPool: string | undefined, options: RouterOptions = {}) {
    this.routes = routes.map(compileRoute)
    this.fallback =
      routes.length === 0 && defaultPool !== undefined
        ? compileRoute({ name: 'default', match: {}, pool: defaultPool, requestHeaders: EMPTY, responseHeaders: EMPTY })
        : undefined
    this.index = this.routes.length >= (options.indexFrom ?? ROUTE_INDEX_FROM) ? new RouteIndex(this.routes) : undefined
  }

  /**
   * The route for a request, or undefined (-> 404). `host` is the Host header value (any case,
   * may carry a port); `path` is the path without the query; `raw` the raw header list.
   */
  match(method: string, host: string, path: string, raw: readonly string[]): CompiledRoute | undefined {
    if (this.fallback !== undefined) return this.fallback
    if (this.index !== undefined) return this.matchIndexed(method, host, path, raw, this.index)
    let hostname: string | undefined
    for (const r of this.routes) {
      if (r.methods !== undefined && !r.methods.has(method)) continue
      if (r.pathPrefix !== undefined && !path.startsWith(r.pathPrefix)) continue
      if (r.pathRegex !== undefined && !r.pathRegex.test(path)) continue
      if (r.hosts !== undefined) {
        hostname ??= normaliseHost(host)
        if (!hostMatches(r.hosts, hostname)) continue
      }
      if (r.headers !== undefined && !headersMatch(r.headers, raw)) continue
      return r
    }
    return undefined
  }

  private matchIndexed(method: string, host: string, path: string, raw: readonly string[], index: RouteIndex): CompiledRoute | undefined {
    const routes = this.routes
    const hostname = normaliseHost(host)
    const found = index.find(hostname, path, (i) => routeMatches(routes[i] as CompiledRoute, method, hostname, path, raw))
    return found === -1 ? undefined : routes[found]
  }
}

/** Every condition of one route against one request (`hostname` already normalised). */
function routeMatches(r: CompiledRoute, method: string, hostname: string, path: string, raw: readonly string[]): boolean {
  if (r.methods !== undefined && !r.methods.has(method)) return false
  if (r.pathPrefix !== undefined && !path.startsWith(r.pathPrefix)) return false
  if (r.pathRegex !== undefined && !r.pathRegex.test(path)) return false
  if (r.hosts !== undefined && !hostMatches(r.hosts, hostname)) return false
  if (r.headers !== undefined && !headersMatch(r.headers, raw)) return false
  return true
}

const EMPTY: HeaderEdits = { set: {}, add: {}, remove: [] }

function compileRoute(r: RouteConfig): CompiledRoute {
  const m = r.match
  let hosts: CompiledRoute['hosts']
  if (m.hosts !== undefined && m.hosts.length > 0) {
    hosts = { exact: new Set(), suffixes: [] }
    for (const h of m.hosts) {
      const lower = h.toLowerCase()
      if (lower.startsWith('*.')) hosts.suffixes.push(lower.slice(1))
      else hosts.exact.add(lower)
    }
  }
  return {
    name: r.name,
    pool: r.pool,
    hosts,
    pathPrefix: m.pathPrefix,
    pathRegex: m.pathRegex === undefined ? undefined : new RegExp(m.pathRegex),
    methods: m.methods === undefined ? undefined : new Set(m.methods.map((x) => x.toUpperCase())),
    headers: m.headers === undefined ? undefined : Object.entries(m.headers).map(([k, v]) => [k.toLowerCase(), v]),
    stripPrefix: r.rewrite?.stripPrefix,
    replacePath:
      r.rewrite?.replacePath === undefined
        ? undefined
        : { pattern: new RegExp(r.rewrite.replacePath.pattern), replacement: r.rewrite.replacePath.replacement },
    requestHeaders: compileEdits(r.requestHeaders),
    responseHeaders: compileEdits(r.responseHeaders),
    rateLimit: r.rateLimit,
  }
}

function compileEdits(e: HeaderEdits | undefined): CompiledEdits | undefined {
  if (e === undefined) return undefined
  const remove = new Set(e.remove.map((x) => x.toLowerCase()))
  const append: string[] = []
  for (const [k, v] of Object.entries(e.set)) {
    remove.add(k.toLowerCase())
    append.push(k, v)
  }
  for (const [k, v] of Object.entries(e.add)) append.push(k, v)
  return remove.size === 0 && append.length === 0 ? undefined : { remove, append }
}

/** Lower case, without port or IPv6 brackets' port. */
function normaliseHost(host: string): string {
  const lower = host.toLowerCase()
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']')
    return end === -1 ? lower : lower.slice(0, end + 1)
  }
  const colon = lower.indexOf(':')
  return colon === -1 ? lower : lower.slice(0, colon)
}

function hostMatches(hosts: NonNullable<CompiledRoute['hosts']>, hostname: string): boolean {
  if (hosts.exact.has(hostname)) return true
  for (const suffix of hosts.suffixes) if (hostname.endsWith(suffix) && hostname.length > suffix.length) return true
  return false
}

function headersMatch(want: [string, string][], raw: readonly string[]): boolean {
  for (const [name, value] of want) {
    let found = false
    for (let i = 0; i < raw.length; i += 2) {
      if ((raw[i] as string).toLowerCase() !== name) continue
      if (value === '*' || raw[i + 1] === value) {
        found = true
        break
      }
    }
    if (!found) return false
  }
  return true
}

/** Applies the route's path rewrite to a request target (`/path?query`). */
export function rewritePath(route: CompiledRoute, target: string): string {
  if (route.stripPrefix === undefined && route.replacePath === undefined) return target
  const q = target.indexOf('?')
  let path = q === -1 ? target : target.slice(0, q)
  const query = q === -1 ? '' : target.slice(q)
  if (route.stripPrefix !== undefined && path.startsWith(route.stripPrefix)) {
    path = path.slice(route.stripPrefix.length)
    if (!path.startsWith('/')) path = `/${path}`
  }
  if (route.replacePath !== undefined) path = path.replace(route.replacePath.pattern, route.replacePath.replacement)
  return path + query
}
