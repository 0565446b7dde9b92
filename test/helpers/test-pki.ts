/**
 * Certificates for TLS tests, made with `openssl` in a directory of the test's own: CA certificates and
 * leaves they sign (P-256 keys, valid two days). Files are `<name>.crt` / `<name>.key` in `dir`.
 */
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** A CA certificate `<name>.crt` / `<name>.key` in `dir`. */
export async function makeTestCa(dir: string, name: string): Promise<void> {
  await run('openssl', ['req', '-x509', ...EC, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)])
}

/** A leaf `<name>.crt` / `<name>.key` in `dir`, signed by CA `ca`, with `san` and extended key usage `usage`. */
export async function makeTestLeaf(dir: string, name: string, ca: string, cn: string, san: string, usage: 'serverAuth' | 'clientAuth'): Promise<void> {
  const ext = join(dir, `${name}.ext`)
  writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`)
  await run('openssl', ['req', ...EC, '-subj', `/CN=${cn}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.csr`)])
  await run('openssl', ['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', join(dir, `${ca}.crt`), '-CAkey', join(dir, `${ca}.key`), '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', join(dir, `${name}.crt`)])
}
