/**
 * HTTPS and mTLS to backends, through a real balancer process and real TLS backends whose certificates
 * come from a test CA made with `openssl` at the start of the run: verification against
 * `upstreamTls.ca` (by IP and by `serverName`), health probes over the same TLS, the wrong CA and no CA
 * (system CAs) refused with 502 `LB_ERR_UPSTREAM_TLS` and the `upstream-tls` metric, the CA file
 * reloaded without a restart, mTLS with and without a client certificate, and `verify: false`
 * (which `lb check` warns about).
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import type { TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startAdminBalancer } from '../helpers/admin.js'
import { CLI } from '../helpers/balancer-process.js'
import { httpGet, waitFor } from '../helpers/index.js'
import { makeTestCa, makeTestLeaf } from '../helpers/test-pki.js'

const run = promisify(execFile)
let dir = ''

const file = (name: string): string => join(dir, name)

interface TlsBackend {
  url: string
  /** SNI names and client-certificate CNs seen, and probe count. */
  seen: { servernames: string[]; clients: string[]; probes: number; requests: number }
  close(): Promise<void>
}

/** An HTTPS backend with the server certificate; with `requireClientCert`, mTLS against the test CA. */
async function startTlsBackend(name: string, requireClientCert = false): Promise<TlsBackend> {
  const seen = { servernames: [] as string[], clients: [] as string[], probes: 0, requests: 0 }
  const server = https.createServer({
    cert: readFileSync(file('server.crt')),
    key: readFileSync(file('server.key')),
    ...(requireClientCert ? { ca: readFileSync(file('ca.crt')), requestCert: true, rejectUnauthorized: true } : {}),
  }, (req, res) => {
    const socket = req.socket as TLSSocket
    if (req.headers['user-agent'] === 'lb-health-check') seen.probes++
    else seen.requests++
    if (typeof socket.servername === 'string') seen.servernames.push(socket.servername)
    const peer = socket.getPeerCertificate()
    if (peer.subject !== undefined) seen.clients.push(String(peer.subject.CN))
    res.writeHead(200, { 'x-backend': name, 'content-type': 'text/plain' })
    res.end(`hello from ${name}`)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `https://127.0.0.1:${port}`,
    seen,
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lb-upstream-tls-'))
  await makeTestCa(dir, 'ca')
  await makeTestCa(dir, 'other-ca')
  await makeTestLeaf(dir, 'server', 'ca', 'backend.test', 'DNS:backend.test,IP:127.0.0.1', 'serverAuth')
  await makeTestLeaf(dir, 'client', 'ca', 'lb-client', 'DNS:lb-client', 'clientAuth')
})
after(() => rmSync(dir, { recursive: true, force: true }))

const quiet = { attempts: 1 }

test('https backends: verified against upstreamTls.ca by IP and by serverName (SNI), probes use the same TLS; the wrong CA or none: 502 LB_ERR_UPSTREAM_TLS and the metric; the CA file reloads', async (t) => {
  const backend = await startTlsBackend('tls')
  t.after(() => backend.close())
  copyFileSync(file('other-ca.crt'), file('rotating-ca.crt'))
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 1,
    log: { accessLog: false },
    pools: {
      byIp: { backends: [{ id: 'ip', url: backend.url }], upstreamTls: { ca: file('ca.crt') }, healthCheck: { interval: '200ms', healthyThreshold: 1 }, retries: quiet },
      bySni: { backends: [{ id: 'sni', url: backend.url }], upstreamTls: { ca: file('ca.crt'), serverName: 'backend.test' }, healthCheck: { enabled: false }, retries: quiet },
      wrongCa: { backends: [{ id: 'wrong', url: backend.url }], upstreamTls: { ca: file('rotating-ca.crt') }, healthCheck: { enabled: false }, retries: quiet },
      systemCa: { backends: [{ id: 'system', url: backend.url }], healthCheck: { enabled: false }, retries: quiet },
    },
    routes: [
      { match: { pathPrefix: '/ip' }, pool: 'byIp' },
      { match: { pathPrefix: '/sni' }, pool: 'bySni' },
      { match: { pathPrefix: '/wrong' }, pool: 'wrongCa' },
      { match: { pathPrefix: '/system' }, pool: 'systemCa' },
    ],
  })
  t.after(() => lb.stop())
  const base = `http://127.0.0.1:${lb.port}`

  const ip = await httpGet(`${base}/ip`)
  assert.equal(ip.status, 200)
  assert.equal(ip.body, 'hello from tls')
  const sni = await httpGet(`${base}/sni`)
  assert.equal(sni.status, 200)
  assert.ok(backend.seen.servernames.includes('backend.test'), 'serverName is sent in SNI')
  // Probes of pool byIp reach the handler only through a verified handshake.
  await waitFor(() => backend.seen.probes >= 2, { message: 'TLS health probes' })

  for (const path of ['/wrong', '/system']) {
    const r = await httpGet(`${base}${path}`)
    assert.equal(r.status, 502, `${path}: ${r.body}`)
    assert.equal((JSON.parse(r.body) as { code: string }).code, 'LB_ERR_UPSTREAM_TLS')
  }
  const requestsBefore = backend.seen.requests
  const m = await waitFor(async () => {
    const x = await lb.metrics()
    return x.sum('lb_upstream_errors_total', { kind: 'upstream-tls', pool: 'wrongCa' }) >= 1 && x.sum('lb_upstream_errors_total', { kind: 'upstream-tls', pool: 'systemCa' }) >= 1 ? x : undefined
  }, { message: 'upstream-tls errors in the metrics' })
  assert.equal(m.sum('lb_upstream_errors_total', { kind: 'upstream-tls', pool: 'byIp' }), 0)
  assert.equal(backend.seen.requests, requestsBefore, 'no request reached the backend over an unverified connection')
  // The log says which endpoint failed and why.
  await waitFor(() => /"msg":"wrongCa\/wrong TLS handshake failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE"/.test(lb.output()), { message: 'a warning naming the verification error' })

  // The CA file changes on disk: the next connections use it, without a restart.
  copyFileSync(file('ca.crt'), file('rotating-ca.crt'))
  await waitFor(async () => (await httpGet(`${base}/wrong`)).status === 200, { timeoutMs: 10_000, message: 'the reloaded CA verifies the backend' })
})

test('mTLS: a backend requiring a client certificate answers with upstreamTls.cert + key, and the handshake fails (502) without', async (t) => {
  const backend = await startTlsBackend('mtls', true)
  t.after(() => backend.close())
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 1,
    log: { accessLog: false },
    pools: {
      withCert: { backends: [{ id: 'a', url: backend.url }], upstreamTls: { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key') }, healthCheck: { interval: '200ms', healthyThreshold: 1 }, retries: quiet },
      withoutCert: { backends: [{ id: 'b', url: backend.url }], upstreamTls: { ca: file('ca.crt') }, healthCheck: { enabled: false }, retries: quiet },
    },
    routes: [{ match: { pathPrefix: '/without' }, pool: 'withoutCert' }, { pool: 'withCert' }],
  })
  t.after(() => lb.stop())
  const base = `http://127.0.0.1:${lb.port}`
  const ok = await httpGet(`${base}/`)
  assert.equal(ok.status, 200)
  assert.equal(ok.body, 'hello from mtls')
  assert.ok(backend.seen.clients.includes('lb-client'), 'the backend saw the client certificate')
  await waitFor(() => backend.seen.probes >= 2, { message: 'mTLS health probes' })
  const refused = await httpGet(`${base}/without`)
  assert.equal(refused.status, 502, refused.body)
  assert.equal((JSON.parse(refused.body) as { code: string }).code, 'LB_ERR_UPSTREAM_TLS')
  const m = await waitFor(async () => {
    const x = await lb.metrics()
    return x.sum('lb_upstream_errors_total', { kind: 'upstream-tls', pool: 'withoutCert' }) >= 1 ? x : undefined
  }, { message: 'the refused handshake counted as upstream-tls' })
  assert.equal(m.sum('lb_upstream_errors_total', { kind: 'upstream-tls', pool: 'withCert' }), 0)
  await waitFor(() => /"msg":"withoutCert\/b TLS handshake failed: ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"/.test(lb.output()), { message: 'a warning naming the refused client certificate' })
})

test('verify: false reaches a backend the CA would refuse, and lb check warns about it', async (t) => {
  const backend = await startTlsBackend('insecure')
  t.after(() => backend.close())
  const config = {
    listen: { host: '127.0.0.1' },
    workers: 1,
    log: { accessLog: false },
    pools: { p: { backends: [{ url: backend.url }], upstreamTls: { ca: file('other-ca.crt'), verify: false }, healthCheck: { enabled: false } } },
  }
  const lb = await startAdminBalancer(config)
  t.after(() => lb.stop())
  assert.equal((await httpGet(`http://127.0.0.1:${lb.port}/`)).status, 200)
  const cfg = file('insecure.json')
  writeFileSync(cfg, JSON.stringify(config))
  const checked = await run(process.execPath, [CLI, 'check', '--config', cfg, '--quiet'])
  assert.match(checked.stdout, /OK/)
  assert.match(checked.stderr, /warning: pools\.p\.upstreamTls\.verify: false: backend certificates are not verified/)
})

test('the TLS name to a backend is the configured one, never the client\'s Host: SNI and the certificate check ignore what the client sends', async (t) => {
  const backend = await startTlsBackend('named')
  t.after(() => backend.close())
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 1,
    log: { accessLog: false },
    pools: {
      byIp: { backends: [{ id: 'ip', url: backend.url }], upstreamTls: { ca: file('ca.crt') }, healthCheck: { enabled: false }, retries: quiet },
      bySni: { backends: [{ id: 'sni', url: backend.url }], upstreamTls: { ca: file('ca.crt'), serverName: 'backend.test' }, healthCheck: { enabled: false }, retries: quiet },
    },
    routes: [{ match: { pathPrefix: '/sni' }, pool: 'bySni' }, { pool: 'byIp' }],
  })
  t.after(() => lb.stop())
  const base = `http://127.0.0.1:${lb.port}`
  // The backend's certificate names backend.test and 127.0.0.1, not the names the clients ask for.
  for (const host of ['www.example.com', 'attacker.test', 'backend.test']) {
    const ip = await httpGet(`${base}/ip`, { host })
    assert.equal(ip.status, 200, `by IP with Host ${host}: ${ip.body}`)
    const sni = await httpGet(`${base}/sni`, { host })
    assert.equal(sni.status, 200, `by serverName with Host ${host}: ${sni.body}`)
  }
  assert.deepEqual([...new Set(backend.seen.servernames)], ['backend.test'], 'SNI is the configured serverName only (none by IP)')
})
