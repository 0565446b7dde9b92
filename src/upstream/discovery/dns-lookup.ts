/**
 * One DNS lookup of a discovery target with `node:dns`: A and AAAA records of a name (with their
 * TTLs), or SRV records and then the addresses of each record's target. With `dnsResolvers` the
 * pool's own servers answer (`Resolver.setServers`); without, the system's servers, and when they
 * know nothing of the name, the system's resolver (`/etc/hosts`, as `getaddrinfo` does) without a TTL.
 */
import { Resolver, promises as dnsPromises } from 'node:dns'
import type { DnsTarget, ResolvedAddress } from './dns-target.js'

/** A lookup's answer: the addresses and the shortest record TTL in seconds (undefined when unknown). */
export interface LookupResult {
  addresses: ResolvedAddress[]
  ttlSeconds: number | undefined
}

/** Resolves one target; rejects with the resolver's error (ENOTFOUND, ETIMEOUT, ECONNREFUSED, ...). */
export type LookupFn = (target: DnsTarget) => Promise<LookupResult>

/** Options of {@link createLookup}. */
export interface LookupOptions {
  /** DNS servers (`IP` or `IP:port`); empty = the system's. */
  servers: readonly string[]
  /** Time for one query before it is retried, ms (default 2000; `node:dns` tries up to 2 times). */
  timeoutMs?: number
}

/** Errors that say the name has no such record (as opposed to: no server answered). */
const NO_RECORD = new Set(['ENOTFOUND', 'ENODATA'])

/** A lookup function for one pool's targets. */
export function createLookup(options: LookupOptions): LookupFn {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: 2 })
  const custom = options.servers.length > 0
  if (custom) resolver.setServers([...options.servers])
  const addresses = (name: string): Promise<LookupResult> => resolveAddresses(resolver, name, custom)
  return async (target) => {
    if (target.kind === 'address') {
      const r = await addresses(target.name)
      return { addresses: r.addresses.map((a) => ({ address: a.address, port: target.port })), ttlSeconds: r.ttlSeconds }
    }
    return resolveSrv(resolver, target.name, addresses)
  }
}

/** A and AAAA records of a name; a name with only one family is fine, none at all is ENOTFOUND. */
async function resolveAddresses(resolver: Resolver, name: string, custom: boolean): Promise<LookupResult> {
  const resolve4 = promisify4(resolver, name)
  const resolve6 = promisify6(resolver, name)
  const [v4, v6] = await Promise.allSettled([resolve4, resolve6])
  const records = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])]
  if (records.length > 0) return { addresses: records.map((r) => ({ address: r.address, port: 0 })), ttlSeconds: minTtl(records.map((r) => r.ttl)) }
  const err = (v4.status === 'rejected' ? v4.reason : v6.status === 'rejected' ? v6.reason : undefined) as NodeJS.ErrnoException | undefined
  // The system's servers may not know a name that /etc/hosts (or NSS) does: ask getaddrinfo then.
  if (!custom && (err === undefined || NO_RECORD.has(err.code ?? ''))) {
    const all = await dnsPromises.lookup(name, { all: true })
    return { addresses: all.map((a) => ({ address: a.address, port: 0 })), ttlSeconds: undefined }
  }
  throw err ?? Object.assign(new Error(`no address for ${name}`), { code: 'ENODATA' })
}

/** SRV records, then each target's addresses; a target that does not resolve is left out. */
async function resolveSrv(resolver: Resolver, name: string, addresses: (name: string) => Promise<LookupResult>): Promise<LookupResult> {
  const records = await new Promise<Array<{ name: string; port: number; priority: number; weight: number }>>((resolve, reject) =>
    resolver.resolveSrv(name, (err, r) => (err === null ? resolve(r) : reject(err))),
  )
  // Only the best (lowest) priority is used, as RFC 2782 clients do; the others are fallbacks we do not model.
  const best = Math.min(...records.map((r) => r.priority))
  const chosen = records.filter((r) => r.priority === best)
  const answers = await Promise.allSettled(chosen.map((r) => addresses(r.name)))
  // RFC 2782: weight 0 is "almost never"; when every record says 0 there is nothing to prefer, so the
  // backend's configured weight applies to all.
  const weighted = chosen.some((r) => r.weight > 0)
  const out: ResolvedAddress[] = []
  const ttls: Array<number | undefined> = []
  answers.forEach((a, i) => {
    const r = chosen[i]
    if (a.status !== 'fulfilled' || r === undefined) return
    ttls.push(a.value.ttlSeconds)
    for (const x of a.value.addresses) out.push({ address: x.address, port: r.port, weight: weighted ? r.weight : undefined, host: r.name })
  })
  if (out.length === 0) {
    const first = answers.find((a) => a.status === 'rejected')
    throw first?.status === 'rejected' ? first.reason : Object.assign(new Error(`SRV ${name}: no target resolved`), { code: 'ENODATA' })
  }
  return { addresses: out, ttlSeconds: minTtl(ttls) }
}

function promisify4(resolver: Resolver, name: string): Promise<Array<{ address: string; ttl: number }>> {
  return new Promise((resolve, reject) => resolver.resolve4(name, { ttl: true }, (err, r) => (err === null ? resolve(r) : reject(err))))
}

function promisify6(resolver: Resolver, name: string): Promise<Array<{ address: string; ttl: number }>> {
  return new Promise((resolve, reject) => resolver.resolve6(name, { ttl: true }, (err, r) => (err === null ? resolve(r) : reject(err))))
}

function minTtl(ttls: ReadonlyArray<number | undefined>): number | undefined {
  const known = ttls.filter((t): t is number => t !== undefined)
  return known.length === 0 ? undefined : Math.min(...known)
}
