/** TLS and HTTP/2 through the real balancer process (workers serve tls.port next to the plain listener). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startTestBackend } from '../helpers/index.js'
import { freePort, startBalancerProcess } from '../helpers/balancer-process.js'

const run = promisify(execFile)

test('the balancer terminates TLS on tls.port (HTTP/1.1 and HTTP/2) and tells the backend X-Forwarded-Proto: https', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-tls-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=lb.test', '-addext', 'subjectAltName=DNS:lb.test', '-keyout', key, '-out', cert])
  const backend = await startTestBackend({ name: 'b' })
  t.after(() => backend.close())
  const tlsPort = await freePort()
  const lb = await startBalancerProcess({
    config: {
      listen: { host: '127.0.0.1' },
      workers: 2,
      tls: { host: '127.0.0.1', port: tlsPort, http2: true, certificates: [{ cert, key, serverNames: ['lb.test'] }] },
      pools: { p: { backends: [{ url: backend.url }], healthCheck: { enabled: false } } },
    },
  })
  t.after(() => lb.stop('SIGKILL'))
  const resolve = `lb.test:${tlsPort}:127.0.0.1`
  for (const version of ['--http1.1', '--http2']) {
    const { stdout } = await run('curl', ['-sk', version, '--resolve', resolve, '-o', '/dev/null', '-w', '%{http_code} %{http_version}', `https://lb.test:${tlsPort}/x`])
    assert.equal(stdout, version === '--http2' ? '200 2' : '200 1.1')
  }
  assert.ok(backend.requests.length >= 2)
  assert.ok(backend.requests.every((r) => r.headers['x-forwarded-proto'] === 'https'))
  assert.equal(await lb.stop('SIGTERM'), 0)
})
