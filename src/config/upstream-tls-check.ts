/**
 * Checks of `pools.*.upstreamTls` that need the files: each one readable, the certificates PEM and the
 * key matching the client certificate. Run at load, so a bad file stops `lb start` and `lb check` with
 * its path instead of failing every worker. Also the warnings `lb check` prints (`verify: false`, unused `dnsResolvers`).
 */
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import type { LbConfig } from './types.js'
import { isDiscoveredUrl } from './discovered-url.js'

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

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g

/**
 * What is wrong with a set of upstream TLS files, or undefined when they make a secure context: the CA
 * bundle holds at least one valid certificate (Node silently ignores a CA file without one), and the
 * key matches the client certificate. Also used when the files are reloaded.
 */
export function tlsMaterialProblem(m: { ca?: Buffer | undefined; cert?: Buffer | undefined; key?: Buffer | undefined }): string | undefined {
  if (m.ca !== undefined) {
    const blocks = m.ca.toString('latin1').match(PEM_CERTIFICATE) ?? []
    if (blocks.length === 0) return 'ca: expected a PEM file with at least one certificate (-----BEGIN CERTIFICATE-----)'
    try {
      for (const b of blocks) new X509Certificate(b)
    } catch (err) {
      return `ca: expected valid PEM certificates (${(err as Error).message})`
    }
  }
  try {
    createSecureContext({ ca: m.ca, cert: m.cert, key: m.key })
  } catch (err) {
    return `expected PEM files and a key that matches cert (${(err as Error).message})`
  }
  return undefined
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
  return out
}
