/**
 * One request/response contract (src/server/listener.suite.ts) over every listener kind the balancer
 * serves: plain HTTP/1.1 on its own code and on `node:http` (`LB_HTTP1_SERVER=node`), HTTP/1.1 over TLS,
 * HTTP/2 over TLS (`tls.http2`), HTTP/1.1 clients of that HTTP/2 port (no ALPN `h2`), and h2c on the plain
 * port (`listen.h2c`).
 */
import { after, before } from 'node:test'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { listenerConformance, type ListenerKind, type ListenerUnderTest } from '../../src/server/listener.suite.js'
import { getFreePort } from '../helpers/index.js'
import { poolConfig, startProxy } from '../helpers/in-process.js'

let dir = ''
let cert = ''
let key = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lb-conformance-'))
  cert = join(dir, 'conf.crt')
  key = join(dir, 'conf.key')
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=conf.test', '-addext', 'subjectAltName=DNS:conf.test', '-keyout', key, '-out', cert])
})
after(() => rm(dir, { recursive: true, force: true }))

/** Starts an in-process balancer over `backendUrl` with `extra` configuration, `LB_HTTP1_SERVER` as given. */
async function start(backendUrl: string, extra: Record<string, unknown>, http1Server: 'own' | 'node', tlsPort?: number): Promise<ListenerUnderTest> {
  const saved = process.env.LB_HTTP1_SERVER
  if (http1Server === 'node') process.env.LB_HTTP1_SERVER = 'node'
  else delete process.env.LB_HTTP1_SERVER
  try {
    const lb = await startProxy(poolConfig([backendUrl], { log: { accessLog: false }, ...extra }))
    return { port: tlsPort ?? lb.port, drain: (ms) => lb.app.drain(ms), close: () => lb.close() }
  } finally {
    if (saved === undefined) delete process.env.LB_HTTP1_SERVER
    else process.env.LB_HTTP1_SERVER = saved
  }
}

async function startTls(backendUrl: string, http2: boolean): Promise<ListenerUnderTest> {
  const port = await getFreePort()
  return start(backendUrl, { tls: { host: '127.0.0.1', port, http2, certificates: [{ cert, key }] } }, 'own', port)
}

const kinds: ListenerKind[] = [
  { name: 'plain HTTP/1.1 (own listener)', secure: false, protocol: 'http/1.1', start: (url) => start(url, {}, 'own') },
  { name: 'plain HTTP/1.1 (node:http)', secure: false, protocol: 'http/1.1', start: (url) => start(url, {}, 'node') },
  { name: 'TLS HTTP/1.1', secure: true, protocol: 'http/1.1', start: (url) => startTls(url, false) },
  { name: 'TLS HTTP/2', secure: true, protocol: 'h2', start: (url) => startTls(url, true) },
  { name: 'HTTP/1.1 on the TLS HTTP/2 port', secure: true, protocol: 'http/1.1', start: (url) => startTls(url, true) },
  { name: 'h2c', secure: false, protocol: 'h2', start: (url) => start(url, { listen: { h2c: true } }, 'own') },
]
for (const kind of kinds) listenerConformance(kind)
