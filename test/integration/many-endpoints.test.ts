// Endpoints with distinct ids in front of the same backend address share keep-alive connections: with
// 50 such endpoints, sequential requests reuse one upstream connection instead of opening one per
// endpoint (which, with 1 000 endpoints, left a worker holding 1 000 sparse idle sockets). With the
// breaker's per-endpoint connection cap the connections stay per endpoint, since the cap counts them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type net from 'node:net'
import { startProxy } from '../helpers/in-process.js'

async function countingBackend(): Promise<{ port: number; connections: () => number; requests: () => number; close(): Promise<void> }> {
  let connections = 0
  let requests = 0
  const server = http.createServer({ keepAliveTimeout: 5000 }, (_req, res) => {
    requests++
    res.writeHead(200, { 'content-length': '2' })
    res.end('ok')
  })
  server.on('connection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}

function get(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    }).on('error', reject)
  })
}

async function run(extraPool: Record<string, unknown>): Promise<{ connections: number; requests: number }> {
  const backend = await countingBackend()
  const endpoints = Array.from({ length: 50 }, (_, i) => ({ url: `http://127.0.0.1:${backend.port}`, id: `e${i}` }))
  const proxy = await startProxy({
    workers: 1,
    pools: { main: { algorithm: 'round-robin', backends: endpoints, healthCheck: { enabled: false }, retries: { attempts: 1 }, ...extraPool } },
  })
  try {
    for (let i = 0; i < 100; i++) assert.equal(await get(proxy.port), 200)
    return { connections: backend.connections(), requests: backend.requests() }
  } finally {
    await proxy.close()
    await backend.close()
  }
}

test('50 endpoints on one address share one keep-alive connection for sequential requests', async () => {
  const r = await run({})
  assert.equal(r.requests, 100)
  assert.ok(r.connections <= 2, `expected the endpoints to share connections, the backend saw ${r.connections}`)
})

test('with circuitBreaker.maxConnections each endpoint keeps its own connections', async () => {
  const r = await run({ circuitBreaker: { maxConnections: 4 } })
  assert.equal(r.requests, 100)
  assert.ok(r.connections >= 50, `expected one connection per endpoint at least, the backend saw ${r.connections}`)
})
