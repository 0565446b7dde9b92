/**
 * `protocol: h2` pools (HTTP/2 over TLS to the backends) honour the pool's `upstreamTls`, through a real
 * balancer process and real HTTP/2 TLS backends whose certificates come from a test CA made with
 * `openssl` for this run: proxied requests and HTTP/2 health probes verify the backend against
 * `upstreamTls.ca` (by IP, and by `serverName` sent in SNI), present `cert` + `key` to a backend that
 * requires a client certificate, and a CA that did not sign the backend gets 502 `LB_ERR_UPSTREAM_TLS`.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http2 from 'node:http2'
import type { TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startAdminBalancer } from '../helpers/admin.js'
import { httpGet, waitFor } from '../helpers/index.js'
import { makeTestCa, makeTestLeaf } from '../helpers/test-pki.js'

let dir = ''
const file = (name: string): string => join(dir, name)

interface H2Backend {
  url: string
  /** HTTP versions of proxied requests, SNI names and client-certificate CNs seen, probe count. */
  seen: { versions: string[]; servernames: string[]; clients: string[]; probes: number }
  close(): Promise<void>
}

/** An HTTP/2-only TLS backend (no HTTP/1.1 fallback) with the test CA's server certificate. */
async function startH2Backend(name: string, requireClientCert = false): Promise<H2Backend> {
  const seen = { versions: [] as string[], servernames: [] as string[], clients: [] as string[], probes: 0 }
  const server = http2.createSecureServer({
    cert: readFileSync(file('server.crt')),
    key: readFileSync(file('server.key')),
    allowHTTP1: false,
    ...(requireClientCert ? { ca: readFileSync(file('ca.crt')), requestCert: true, rejectUnauthorized: true } : {}),
  }, (req, res) => {
    const socket = req.socket as TLSSocket
    if (req.headers['user-agent'] === 'lb-health-check') seen.probes++
    else seen.versions.push(req.httpVersion)
    if (typeof socket.servername === 'string') seen.servernames.push(socket.servername)
    const peer = socket.getPeerCertificate()
    if (peer.subject !== undefined) seen.clients.push(String(peer.subject.CN))
    res.writeHead(200, { 'x-backend': name, 'content-type': 'text/plain' })
    res.end(`hello over h2 from ${name}`)
  })
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s)
    s.once('close', () => sessions.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `https://127.0.0.1:${port}`,
    seen,
    close: () => new Promise((resolve) => {
      for (const s of sessions) s.destroy()
      server.close(() => resolve())
    }),
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lb-h2-upstream-tls-'))
  await makeTestCa(dir, 'ca')
  await makeTestCa(dir, 'other-ca')
  await makeTestLeaf(dir, 'server', 'ca', 'backend.test', 'DNS:backend.test,IP:127.0.0.1', 'serverAuth')
  await makeTestLeaf(dir, 'client', 'ca', 'lb-client', 'DNS:lb-client', 'clientAuth')
})
after(() => rmSync(dir, { recursive: true, force: true }))

const quiet = { attempts: 1 }

test('protocol h2: the backend is verified against upstreamTls.ca (by IP and by serverName), HTTP/2 probes too; another CA: 502 LB_ERR_UPSTREAM_TLS', async (t) => {
  const backend = await startH2Backend('h2')
  t.after(() => backend.close())
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 1,
    log: { accessLog: false },
    pools: {
      byIp: { protocol: 'h2', backends: [{ id: 'ip', url: backend.url }], upstreamTls: { ca: file('ca.crt') }, healthCheck: { interval: '200ms', healthyThreshold: 1, unhealthyThreshold: 1 }, retries: quiet },
      bySni: { protocol: 'h2', backends: [{ id: 'sni', url: backend.url }], upstreamTls: { ca: file('ca.crt'), serverName: 'backend.test' }, healthCheck: { enabled: false }, retries: quiet },
      wrongCa: { protocol: 'h2', backends: [{ id: 'wrong', url: backend.url }], upstreamTls: { ca: file('other-ca.crt') }, healthCheck: { enabled: false }, retries: quiet },
    },
    routes: [
      { match: { pathPrefix: '/sni' }, pool: 'bySni' },
      { match: { pathPrefix: '/wrong' }, pool: 'wrongCa' },
      { pool: 'byIp' },
    ],
  })
  t.after(() => lb.stop())
  const base = `http://127.0.0.1:${lb.port}`

  const ip = await httpGet(`${base}/ip`)
  assert.equal(ip.status, 200, ip.body)
  assert.equal(ip.body, 'hello over h2 from h2')
  const sni = await httpGet(`${base}/sni`)
  assert.equal(sni.status, 200, sni.body)
  assert.ok(backend.seen.servernames.includes('backend.test'), 'serverName is sent in SNI')
  assert.deepEqual([...new Set(backend.seen.versions)], ['2.0'], 'requests reach the backend over HTTP/2')

  // Probes reach the handler only through a verified handshake; one failed probe would take the
  // endpoint out (unhealthyThreshold 1), so a request after several probes still being answered
  // means they all passed.
  await waitFor(() => backend.seen.probes >= 3, { message: 'HTTP/2 TLS health probes' })
  const afterProbes = await httpGet(`${base}/ip`)
  assert.equal(afterProbes.status, 200, afterProbes.body)

  const versionsBefore = backend.seen.versions.length
  const wrong = await httpGet(`${base}/wrong`)
  assert.equal(wrong.status, 502, wrong.body)
  assert.equal((JSON.parse(wrong.body) as { code: string }).code, 'LB_ERR_UPSTREAM_TLS')
  assert.equal(backend.seen.versions.length, versionsBefore, 'no request reached the backend over an unverified connection')
  const m = await waitFor(async () => {
    const x = await lb.metrics()
    return x.sum('lb_upstream_errors_total', { kind: 'upstream-tls', pool: 'wrongCa' }) >= 1 ? x : undefined
  }, { message: 'upstream-tls error in the metrics' })
  assert.equal(m.sum('lb_upstream_errors_total', { kind: 'upstream-tls', pool: 'byIp' }), 0)
})

test('protocol h2 with mTLS: upstreamTls.cert + key are presented to a backend that requires a client certificate', async (t) => {
  const backend = await startH2Backend('mtls', true)
  t.after(() => backend.close())
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 1,
    log: { accessLog: false },
    pools: {
      withCert: { protocol: 'h2', backends: [{ id: 'a', url: backend.url }], upstreamTls: { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key') }, healthCheck: { interval: '200ms', healthyThreshold: 1 }, retries: quiet },
    },
  })
  t.after(() => lb.stop())
  const ok = await httpGet(`http://127.0.0.1:${lb.port}/`)
  assert.equal(ok.status, 200, ok.body)
  assert.equal(ok.body, 'hello over h2 from mtls')
  assert.ok(backend.seen.clients.includes('lb-client'), 'the backend saw the client certificate')
  await waitFor(() => backend.seen.probes >= 2, { message: 'mTLS HTTP/2 health probes' })
})
