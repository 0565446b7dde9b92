/**
 * DNS discovery of backends: which backends are names (`dns-target.ts`), one lookup of a name or an
 * SRV record (`dns-lookup.ts`), and the refresh loop of a pool (`dns-discovery.ts`). The primary runs
 * it (see `cluster/`); workers only ever see the endpoints it found.
 */
export { PoolDiscovery, MIN_DNS_REFRESH_MS, type DiscoveryUpdate, type PoolDiscoveryOptions } from './dns-discovery.js'
export { createLookup, type LookupFn, type LookupResult, type LookupOptions } from './dns-lookup.js'
export { isDiscoveredUrl } from '../../core/index.js'
export { discoveryTargets, endpointsOf, poolTargets, targetOf, withoutDiscovered, type DnsTarget, type ResolvedAddress } from './dns-target.js'
