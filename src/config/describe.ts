import { isDiscoveredUrl } from '../core/index.js'
import { formatDuration } from './duration.js'
import type { LbConfig } from './types.js'

/**
 * A short human summary of a configuration, for `lb start` and `lb check`: listeners, workers, state,
 * then one line per pool (algorithm and endpoints) and the number of routes.
 */
export function describeConfig(config: LbConfig): string {
  const lines: string[] = []
  const source = config.source.file === undefined ? 'defaults' : `${config.source.file}${config.source.kind === 'seed' ? ' (seed format)' : ''}`
  lines.push(`configuration: ${source}`)
  const tls = config.tls === undefined ? '' : `, https://${config.tls.host}:${config.tls.port}${config.tls.http2 ? ' (h2)' : ''}`
  lines.push(`listen: http://${config.listen.host}:${config.listen.port}${tls}; ${config.workers} worker${config.workers === 1 ? '' : 's'}${config.listen.reusePort === true ? ' (SO_REUSEPORT: each worker accepts its own connections)' : ''}`)
  const state = config.state.kind === 'memory'
    ? 'memory'
    : config.state.url !== undefined
      ? `redis ${redactUrl(config.state.url)}`
      : config.state.sentinels !== undefined
        ? `redis sentinel "${config.state.sentinelName ?? ''}" (${config.state.sentinels.length} nodes)`
        : `redis cluster (${config.state.cluster?.length ?? 0} seed nodes)`
  lines.push(`state: ${state}; admin: http://${config.admin.host}:${config.admin.port}${config.admin.token === undefined ? '' : ' (token set)'}`)
  if (config.metrics !== undefined) lines.push(`metrics: http://${config.metrics.host}:${config.metrics.port}/metrics (no token)`)
  for (const pool of Object.values(config.pools)) {
    const hash = pool.algorithm === 'consistent-hash' ? ` on ${pool.hashOn.kind === 'ip' ? 'ip' : `${pool.hashOn.kind}:${pool.hashOn.name}`}` : ''
    const probe = pool.healthCheck.grpc !== undefined ? `grpc ${JSON.stringify(pool.healthCheck.grpc.service)}` : `${pool.healthCheck.method} ${pool.healthCheck.path}`
    const hc = pool.healthCheck.enabled ? `health ${probe} every ${formatDuration(pool.healthCheck.intervalMs)}` : 'no active health checks'
    const endpoints = pool.backends.map((b) => {
      const flags = [b.weight !== 1 ? `weight ${b.weight}` : '', b.backup ? 'backup' : '', b.drained ? 'drained' : ''].filter((f) => f !== '')
      if (isDiscoveredUrl(b.url)) flags.unshift(`DNS, every ${formatDuration(pool.dnsRefreshMs)}${pool.dnsResolvers.length > 0 ? ` via ${pool.dnsResolvers.join(' ')}` : ''}`)
      return `${b.id}${flags.length > 0 ? ` (${flags.join(', ')})` : ''}`
    })
    lines.push(`pool ${pool.name}: ${pool.algorithm}${hash}, ${pool.backends.length} endpoint${pool.backends.length === 1 ? '' : 's'} [${endpoints.join(', ')}]; ${hc}`)
  }
  if (config.routes.length === 0) lines.push(`routes: none (every request goes to pool ${Object.keys(config.pools)[0] ?? '?'})`)
  else lines.push(`routes: ${config.routes.map((r) => `${r.name} -> ${r.pool}`).join(', ')}`)
  return lines.join('\n')
}

/** Hides the password of a URL. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return url
  }
}
