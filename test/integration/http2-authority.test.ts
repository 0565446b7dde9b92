/** HTTP/2 over TLS with Node's http2 client: a `host` header naming another entity than `:authority` is a 400. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import http2 from 'node:http2'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { buildProxyContext } from '../../src/app.js'
import { loadConfig, type TlsConfig } from '../../src/config/index.js'
import type { ProxyRuntime } from '../../src/proxy/index.js'
import { createTlsServer } from '../../src/server/index.js'
import { startTestBackend } from '../helpers/index.js'
import { poolConfig } from '../helpers/in-process.js'

const run = promisify(execFile)

function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': '/x', ...headers })
    let body = ''
    let status = 0
    req.on('response', (h) => (status = Number(h[':status'])))
    req.setEncoding('utf8')
    req.on('data', (d: string) => (body += d))
    req.on('end', () => resolve({ status, body }))
    req.on('error', reject)
    req.end()
  })
}

test('HTTP/2: host differing from :authority -> 400 and never reaches the backend; same name (any case, or absent) -> 200', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-h2-authority-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const cert = join(dir, 'a.crt')
  const key = join(dir, 'a.key')
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=a.test', '-addext', 'subjectAltName=DNS:a.test', '-keyout', key, '-out', cert])
  const backend = await startTestBackend({ name: 'b' })
  t.after(() => backend.close())
  const config = await loadConfig({ env: {}, inline: poolConfig([backend.url], { log: { accessLog: false }, tls: { port: 8443, host: '127.0.0.1', http2: true, certificates: [{ cert, key }] } }) })
  const runtime: ProxyRuntime = { context: buildProxyContext(config), shuttingDown: false, inFlight: 0 }
  const listener = createTlsServer(runtime, config.limits, { ...(config.tls as TlsConfig), host: '127.0.0.1', port: 0 })
  await listener.listen()
  t.after(async () => {
    await listener.close()
    await Promise.all([...runtime.context.pools.values()].map((p) => p.close()))
  })
  const session = http2.connect(`https://127.0.0.1:${listener.port()}`, { servername: 'a.test', rejectUnauthorized: false })
  t.after(() => session.close())
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve())
    session.once('error', reject)
  })
  const bad = await h2Request(session, { ':authority': 'a.test', host: 'internal.admin.test' })
  assert.equal(bad.status, 400)
  assert.equal(backend.count('/x'), 0)
  assert.equal((await h2Request(session, { ':authority': 'a.test' })).status, 200)
  assert.equal((await h2Request(session, { ':authority': 'a.test', host: 'A.Test' })).status, 200)
  assert.equal(backend.count('/x'), 2)
  assert.equal(backend.requests.at(-1)?.headers.host, 'A.Test')
})
