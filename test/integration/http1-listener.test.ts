// The plain listener comes in two implementations with one behaviour: the balancer's own HTTP/1.1 server
// on Node's llhttp binding (the default) and `node:http` (LB_HTTP1_SERVER=node, or a Node whose parser
// binding has another shape). The rest of the suite runs on the default; this file checks both the same way.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type net from 'node:net'
import { rawRequest } from '../helpers/index.js'
import { poolConfig, startProxy, type InProcessProxy } from '../helpers/in-process.js'
import { Http1Server } from '../../src/server/http1/index.js'

async function echoBackend(): Promise<{ url: string; close(): void }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      // No Content-Length on /stream: the balancer must frame it (chunked for 1.1, close for 1.0).
      if (req.url === '/stream') res.writeHead(200, { 'content-type': 'text/plain' })
      else res.writeHead(200, { 'content-length': String(body.length) })
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, close: () => { server.closeAllConnections(); server.close() } }
}

async function withListener(mode: 'own' | 'node', fn: (proxy: InProcessProxy) => Promise<void>): Promise<void> {
  const backend = await echoBackend()
  const before = process.env.LB_HTTP1_SERVER
  if (mode === 'node') process.env.LB_HTTP1_SERVER = 'node'
  let proxy: InProcessProxy | undefined
  try {
    proxy = await startProxy(poolConfig([backend.url]))
  } finally {
    if (before === undefined) delete process.env.LB_HTTP1_SERVER
    else process.env.LB_HTTP1_SERVER = before
  }
  try {
    assert.equal(proxy.app.server instanceof Http1Server, mode === 'own')
    assert.equal(proxy.app.server instanceof http.Server, mode === 'node')
    await fn(proxy)
  } finally {
    await proxy.close()
    backend.close()
  }
}

for (const mode of ['own', 'node'] as const) {
  test(`${mode} listener: keep-alive GET and POST, framing for 1.1 and 1.0, limits, ambiguous framing`, async () => {
    await withListener(mode, async (proxy) => {
      const two = await rawRequest(proxy.port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello')
      assert.equal(two.raw.match(/HTTP\/1\.1 200 OK/g)?.length, 2, two.raw)
      assert.ok(two.raw.endsWith('\r\n\r\nhello'), two.raw)
      const chunked = await rawRequest(proxy.port, 'POST /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc')
      assert.match(chunked.raw, /transfer-encoding: chunked\r\n/i)
      assert.match(chunked.raw, /\r\n\r\n3\r\nabc\r\n0\r\n\r\n$/)
      const old = await rawRequest(proxy.port, 'POST /stream HTTP/1.0\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc')
      assert.doesNotMatch(old.raw, /transfer-encoding/i)
      assert.ok(old.raw.endsWith('\r\n\r\nabc'), old.raw)
      const big = await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`)
      assert.match(big.raw, /^HTTP\/1\.1 431 /)
      const smuggle = await rawRequest(proxy.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
      assert.match(smuggle.raw, /^HTTP\/1\.1 400 /)
    })
  })
}
