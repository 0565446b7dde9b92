/**
 * Loads the TLS certificates and keys a configuration references, as `nginx -t` does, so that
 * `lb check` finds a missing file, a file that is not PEM, or a key that does not belong to its
 * certificate before `lb start` would. Only for the CLI: it reads files synchronously.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { TlsConfig } from '../config/index.js'

/** Why a read failed, in words. */
function readFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'file not found'
  if (code === 'EACCES') return 'permission denied'
  if (code === 'EISDIR') return 'is a directory'
  return err instanceof Error ? err.message : String(err)
}

function read(value: string): { pem?: string; problem?: string } {
  if (value.includes('-----BEGIN')) return { pem: value }
  try {
    return { pem: readFileSync(value, 'utf8') }
  } catch (err) {
    return { problem: `${value}: cannot read: ${readFailure(err)}` }
  }
}

function where(value: string): string {
  return value.includes('-----BEGIN') ? '(inline PEM)' : value
}

/**
 * Every problem of the certificates of `tls`, one line each: `tls.certificates[0].key: /etc/lb/k.pem:
 * the private key does not match the certificate`. Empty when every pair loads and matches.
 */
export function checkCertificates(tls: TlsConfig): string[] {
  const problems: string[] = []
  tls.certificates.forEach((entry, i) => {
    const path = `tls.certificates[${i}]`
    const cert = read(entry.cert)
    const key = read(entry.key)
    let x509: X509Certificate | undefined
    let privateKey: KeyObject | undefined
    if (cert.problem !== undefined) problems.push(`${path}.cert: ${cert.problem}`)
    else {
      try {
        x509 = new X509Certificate(cert.pem ?? '')
      } catch {
        problems.push(`${path}.cert: ${where(entry.cert)}: expected a PEM certificate (-----BEGIN CERTIFICATE-----)`)
      }
    }
    if (key.problem !== undefined) problems.push(`${path}.key: ${key.problem}`)
    else {
      try {
        privateKey = createPrivateKey(key.pem ?? '')
      } catch {
        problems.push(`${path}.key: ${where(entry.key)}: expected a PEM private key (-----BEGIN PRIVATE KEY-----)`)
      }
    }
    if (x509 !== undefined && privateKey !== undefined && !x509.checkPrivateKey(privateKey)) {
      problems.push(`${path}.key: ${where(entry.key)}: the private key does not match the certificate ${where(entry.cert)}`)
    }
  })
  return problems
}
