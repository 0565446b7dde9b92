/**
 * Rules that span several fields, run on the raw document (after environment and flag overrides) so
 * they report even when other parts of the file are invalid. Values of the wrong type are skipped here:
 * the schema reports them.
 */
import { reusePortUnsupported } from '../core/index.js'
import { parseDuration } from './duration.js'
import type { ConfigPath } from './issues.js'
import { closest, show } from './issues.js'
import { isLoopbackHost } from './schema-parts.js'
import { endpointIdOf } from './schema-pool.js'

/** A problem found by a cross-field rule: where, and what is wrong. */
export interface CrossProblem {
  path: ConfigPath
  message: string
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

function defaultIdOf(b: Obj): string | undefined {
  if (typeof b.id === 'string') return b.id
  if (typeof b.url === 'string') {
    try {
      return endpointIdOf(b.url)
    } catch {
      return undefined
    }
  }
  if (typeof b.host === 'string' && typeof b.port === 'number') return `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`
  return undefined
}

function checkPool(name: string, pool: Obj, out: CrossProblem[]): void {
  const at = ['pools', name]
  if (Array.isArray(pool.backends)) {
    const seen = new Map<string, number>()
    pool.backends.forEach((b, i) => {
      if (!isObj(b)) return
      const id = defaultIdOf(b)
      if (id === undefined) return
      const first = seen.get(id)
      if (first === undefined) seen.set(id, i)
      else out.push({ path: [...at, 'backends', i, typeof b.id === 'string' ? 'id' : 'url'], message: `duplicate endpoint id "${id}" (same as backends[${first}]): expected ids unique within the pool (set id to tell them apart)` })
    })
  }
  checkProtocol(pool, at, out)
  const algorithm = pool.algorithm ?? 'round-robin'
  if (pool.hashOn !== undefined && algorithm !== 'consistent-hash') {
    out.push({ path: [...at, 'hashOn'], message: `hashOn is only used by algorithm consistent-hash (this pool uses ${show(algorithm)}): remove it or set algorithm: consistent-hash` })
  }
  const order = (obj: unknown, lo: string, hi: string, where: string): void => {
    if (!isObj(obj)) return
    const a = parseDuration(obj[lo])
    const b = parseDuration(obj[hi])
    if (a !== undefined && b !== undefined && obj[lo] !== undefined && obj[hi] !== undefined && a > b) {
      out.push({ path: [...at, where, lo], message: `expected ${lo} <= ${hi} (${show(obj[lo])} > ${show(obj[hi])})` })
    }
  }
  order(pool.retries, 'backoffBase', 'backoffMax', 'retries')
  order(pool.outlierDetection, 'baseEjection', 'maxEjection', 'outlierDetection')
}

/** `h2` is HTTP/2 over TLS, `h2c` over cleartext: each needs backend URLs of its scheme. */
function checkProtocol(pool: Obj, at: ConfigPath, out: CrossProblem[]): void {
  const protocol = pool.protocol
  if ((protocol !== 'h2' && protocol !== 'h2c') || !Array.isArray(pool.backends)) return
  const scheme = protocol === 'h2' ? 'https:' : 'http:'
  pool.backends.forEach((b, i) => {
    if (!isObj(b) || typeof b.url !== 'string') return
    let actual: string
    try {
      actual = new URL(b.url).protocol.replace(/^srv\+/, '')
    } catch {
      return // the schema reports it
    }
    if (actual !== scheme) {
      out.push({ path: [...at, 'backends', i, 'url'], message: `protocol ${protocol} needs ${scheme}// backend URLs (${protocol === 'h2' ? 'HTTP/2 over TLS' : 'HTTP/2 over cleartext'}), got ${show(b.url)}` })
    }
  })
}

function portOf(section: unknown, fallback: number): number | undefined {
  if (section === undefined) return fallback
  if (!isObj(section)) return undefined
  if (section.port === undefined) return fallback
  return typeof section.port === 'number' ? section.port : undefined
}

/** Every cross-field problem of a raw configuration document (empty when none). */
export function crossCheck(raw: unknown): CrossProblem[] {
  const out: CrossProblem[] = []
  if (!isObj(raw)) return out
  const pools = isObj(raw.pools) ? raw.pools : undefined
  if (pools !== undefined) for (const [name, pool] of Object.entries(pools)) if (isObj(pool)) checkPool(name, pool, out)

  if (Array.isArray(raw.routes) && pools !== undefined) {
    const names = Object.keys(pools)
    raw.routes.forEach((r, i) => {
      if (!isObj(r) || typeof r.pool !== 'string' || r.pool in pools) return
      const hint = closest(r.pool, names)
      out.push({ path: ['routes', i, 'pool'], message: `expected the name of a pool (${names.join(', ')}), got ${show(r.pool)}${hint === undefined ? '' : ` (did you mean "${hint}"?)`}` })
    })
  }

  const admin = raw.admin === undefined ? {} : raw.admin
  if (isObj(admin)) {
    const adminHost = admin.host ?? '127.0.0.1'
    if (typeof adminHost === 'string' && !isLoopbackHost(adminHost) && (admin.token === undefined || admin.token === '')) {
      out.push({ path: ['admin', 'host'], message: `admin server on ${show(adminHost)} is reachable beyond loopback, so it needs a token: expected admin.token (or env LB_ADMIN_TOKEN), or a loopback host such as 127.0.0.1` })
    }
  }

  if (isObj(raw.listen) && raw.listen.reusePort === true) {
    const why = reusePortUnsupported()
    if (why !== undefined) out.push({ path: ['listen', 'reusePort'], message: `SO_REUSEPORT ${why}: expected false (or run on a newer Node)` })
  }

  const listenPort = portOf(raw.listen, 8080)
  const adminPort = portOf(raw.admin, 9901)
  const tlsPort = raw.tls === undefined ? undefined : portOf(raw.tls, 8443)
  if (listenPort !== undefined && listenPort === adminPort) out.push({ path: ['admin', 'port'], message: `expected a port other than the listener's (${listenPort})` })
  if (tlsPort !== undefined && (tlsPort === listenPort || tlsPort === adminPort)) out.push({ path: ['tls', 'port'], message: `expected a port other than the listener's and the admin server's, got ${tlsPort}` })
  const metricsPort = isObj(raw.metrics) && typeof raw.metrics.port === 'number' ? raw.metrics.port : undefined
  if (metricsPort !== undefined && (metricsPort === listenPort || metricsPort === adminPort || metricsPort === tlsPort)) {
    out.push({ path: ['metrics', 'port'], message: `expected a port other than the listener's, the TLS listener's and the admin server's, got ${metricsPort}` })
  }
  return out
}
