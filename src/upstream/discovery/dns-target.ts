/**
 * Which backends are discovered by DNS, and the endpoints an answer becomes. A backend whose URL host is
 * a name (not an IP literal, and not `localhost`) or whose URL is `srv+http(s)://` is a *target*: the
 * configuration's backend is a template, and each resolved address becomes one endpoint with id
 * `name@address:port` and the template's weight, backup and drained flags (an SRV record's weight
 * replaces the template's when the record gives one).
 */
import { isDiscoveredUrl } from '../../core/index.js'
import type { BackendConfig, LbConfig, PoolConfig } from '../../config/index.js'

/** One backend of a pool that DNS discovery resolves. */
export interface DnsTarget {
  readonly pool: string
  /** The template backend's id (default: `name:port`, or the SRV name): the key of its discovered set. */
  readonly id: string
  /** The name to resolve (the URL's host; for SRV, the record name `_svc._tcp.name`). */
  readonly name: string
  readonly kind: 'address' | 'srv'
  /** `http:` or `https:` (the scheme of the endpoints). */
  readonly scheme: 'http:' | 'https:'
  /** Port of the endpoints (A/AAAA); SRV records give their own. */
  readonly port: number
  readonly template: BackendConfig
}

/** One resolved address of a target. `weight` is set only by SRV records. */
export interface ResolvedAddress {
  address: string
  port: number
  weight?: number | undefined
  /** The host name the address belongs to when it is not the target's name (an SRV record's target). */
  host?: string | undefined
}

/** The discovery target of a backend, or undefined when its URL names an address. */
export function targetOf(pool: string, backend: BackendConfig): DnsTarget | undefined {
  if (!isDiscoveredUrl(backend.url)) return undefined
  const u = new URL(backend.url)
  const srv = u.protocol.startsWith('srv+')
  const scheme = (srv ? u.protocol.slice(4) : u.protocol) as 'http:' | 'https:'
  const port = u.port === '' ? (scheme === 'https:' ? 443 : 80) : Number(u.port)
  return { pool, id: backend.id, name: u.hostname, kind: srv ? 'srv' : 'address', scheme, port, template: backend }
}

/** The discovery targets of one pool (empty when every backend names an address). */
export function poolTargets(pool: PoolConfig): DnsTarget[] {
  const out: DnsTarget[] = []
  for (const b of pool.backends) {
    const t = targetOf(pool.name, b)
    if (t !== undefined) out.push(t)
  }
  return out
}

/** Every discovery target of a configuration, pool by pool. */
export function discoveryTargets(config: LbConfig): DnsTarget[] {
  return Object.values(config.pools).flatMap(poolTargets)
}

/**
 * The configuration the workers serve before anything resolved: discovered backends removed (their
 * endpoints arrive as they resolve; a pool left without any answers 503 until then).
 */
export function withoutDiscovered(config: LbConfig): LbConfig {
  const pools: Record<string, PoolConfig> = {}
  for (const [name, pool] of Object.entries(config.pools)) pools[name] = { ...pool, backends: pool.backends.filter((b) => !isDiscoveredUrl(b.url)) }
  return { ...config, pools }
}

/** The endpoints of a target's answer, one per address (duplicates merged), in a stable order. */
export function endpointsOf(target: DnsTarget, addresses: readonly ResolvedAddress[]): BackendConfig[] {
  const byId = new Map<string, BackendConfig>()
  for (const a of addresses) {
    const hostPart = a.address.includes(':') ? `[${a.address}]` : a.address
    const id = `${target.name}@${hostPart}:${a.port}`
    if (byId.has(id)) continue
    byId.set(id, {
      id,
      url: `${target.scheme}//${hostPart}:${a.port}`,
      weight: a.weight ?? target.template.weight,
      backup: target.template.backup,
      drained: target.template.drained,
      // The certificate names the host, not the address (for SRV: the record's target).
      ...(target.scheme === 'https:' ? { serverName: a.host ?? target.name } : {}),
    })
  }
  return [...byId.values()].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
}
