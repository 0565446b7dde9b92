/**
 * Checks of `pools.*.upstreamTls` that need the files: each one readable, the certificates PEM and the
 * key matching the client certificate. Run at load, so a bad file stops `lb start` and `lb check` with
 * its path instead of failing every worker. Also the warnings `lb check` and `lb start` print (`verify: false`, unused `dnsResolvers`, `reusePort` without `tcp_migrate_req`).
 */
import { readFileSync } from 'node:fs'
import { tlsMaterialProblem } from '../core/index.js'
import type { LbConfig } from './types.js'
import { isDiscoveredUrl } from '../core/index.js'

/** Problems (`pools.api.upstreamTls.ca: ...`) of the upstream TLS files of every pool. */
export function checkUpstreamTlsFiles(config: LbConfig): string[] {
  const problems: string[] = []
  for (const [name, pool] of Object.entries(config.pools)) {
    const t = pool.upstreamTls
    if (t === undefined) continue
    const options: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {}
    let readable = true
    for (const field of ['ca', 'cert', 'key'] as const) {
      const path = t[field]
      if (path === undefined) continue
      try {
        options[field] = readFileSync(path)
      } catch (err) {
        readable = false
        problems.push(`pools.${name}.upstreamTls.${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
      }
    }
    if (!readable) continue
    const problem = tlsMaterialProblem(options)
    if (problem !== undefined) problems.push(`pools.${name}.upstreamTls: ${problem}`)
  }
  return problems
}



/** Valid but risky settings, one line each with its path, for `lb check` to print. */
export function configWarnings(config: LbConfig): string[] {
  const out: string[] = []
  for (const [name, pool] of Object.entries(config.pools)) {
    if (pool.upstreamTls?.verify === false) {
      out.push(`pools.${name}.upstreamTls.verify: false: backend certificates are not verified, so anyone on the path can impersonate the backends (use ca instead)`)
    }
    if (pool.dnsResolvers.length > 0 && !pool.backends.some((b) => isDiscoveredUrl(b.url))) {
      out.push(`pools.${name}.dnsResolvers: no backend of the pool names a host (each is an IP address or localhost), so these DNS servers are never asked`)
    }
  }
  if (config.listen.reusePort === true && readSysctl('/proc/sys/net/ipv4/tcp_migrate_req') === '0') {
    out.push('listen.reusePort: net.ipv4.tcp_migrate_req is 0, so when SIGUSR2 replaces the workers, connections the kernel had queued on a retiring worker\'s socket and not yet accepted are reset; set it to 1 (Linux 5.14+) to have them moved to a remaining worker')
  }
  return out
}

/** A sysctl's value read from /proc (trimmed), or undefined where there is none. Start-up only. */
function readSysctl(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    return undefined
  }
}
