/**
 * The one check of TLS material (CA bundle, client certificate and key) shared by `lb check` (config/)
 * and the upstream TLS reloader (upstream/). It lives here, below both, so that a proxy worker reaches it
 * without importing the configuration schema (zod, yaml), which it never uses: the primary validates.
 */
import { X509Certificate } from 'node:crypto'
import { createSecureContext } from 'node:tls'

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
