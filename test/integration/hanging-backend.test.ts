// A backend that accepts connections and never answers: with 1 s probes (timeout by default at most the
// interval) it leaves rotation within `unhealthyThreshold` intervals, and the idempotent requests already
// waiting on it are cancelled and retried on a healthy backend instead of waiting out the 30 s header
// timeout. A non-idempotent request is never sent twice.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { Agent } from 'node:http'
import { httpRequest, startTestBackend, waitFor } from '../helpers/index.js'
import { startAdminBalancer } from '../helpers/admin.js'

/** Accepts TCP connections, reads whatever comes, never writes a byte. */
async function startHangingServer(t: TestContext): Promise<{ url: string; connections: () => number }> {
  let connections = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    connections++
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    socket.resume()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy()
    server.close(() => resolve())
  }))
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, connections: () => connections }
}

test('a backend that accepts and never answers: out of rotation within 3 one-second intervals; waiting GETs are retried elsewhere, a POST is not replayed', async (t) => {
  const hanging = await startHangingServer(t)
  const healthy = await startTestBackend({ name: 'healthy' })
  t.after(() => healthy.close())
  const spawnedAt = performance.now()
  const lb = await startAdminBalancer({
    workers: 1,
    log: { accessLog: false },
    pools: {
      p: {
        algorithm: 'round-robin',
        backends: [{ url: hanging.url, id: 'hanging' }, { url: healthy.url, id: 'healthy' }],
        healthCheck: { interval: '1s', unhealthyThreshold: 3, healthyThreshold: 1, jitter: 0 },
        // Only the active checks take it out: the passive ones would need five failed requests.
        outlierDetection: { enabled: false },
        retries: { attempts: 2 },
        timeouts: { headers: '8s' },
      },
    },
  })
  t.after(() => lb.stop())
  const readyAt = performance.now()

  // Requests sent right away. Two POSTs one after the other: round robin puts exactly one of them on the
  // hanging backend. Then GETs, about half of which land there too.
  const agent = new Agent({ keepAlive: false })
  t.after(() => agent.destroy())
  const sentAt = performance.now()
  const posts: Array<Promise<{ status: number; ms: number }>> = []
  for (let i = 0; i < 2; i++) {
    posts.push(httpRequest(`http://127.0.0.1:${lb.port}/post-${i}`, { agent, method: 'POST', body: `post ${i}` }).then((r) => ({ ...r, ms: performance.now() - sentAt })))
    await new Promise((r) => setTimeout(r, 150))
  }
  const gets = Array.from({ length: 8 }, (_, i) => httpRequest(`http://127.0.0.1:${lb.port}/get-${i}`, { agent }).then((r) => ({ ...r, ms: performance.now() - sentAt })))

  // The checker marks it down within 3 intervals of its first probe (which starts before the workers listen).
  const down = await waitFor(async () => {
    const r = await lb.call('GET', '/api/pools')
    const body = JSON.parse(r.body) as { pools: Array<{ endpoints: Array<{ id: string; healthy: boolean }> }> }
    const endpoint = body.pools[0]?.endpoints.find((e) => e.id === 'hanging')
    return endpoint?.healthy === false ? performance.now() : undefined
  }, { timeoutMs: 20_000, intervalMs: 100, message: 'the hanging backend marked unhealthy' })
  // Three 1 s intervals, plus slack for a loaded machine (the probe timeout used to be 2 s and the next
  // probe waited a full interval after it: about 8 s).
  assert.ok(down - readyAt < 4_500, `marked unhealthy ${Math.round(down - spawnedAt)} ms after the balancer was spawned, ${Math.round(down - readyAt)} ms after it was ready`)

  const getResults = await Promise.all(gets)
  for (const r of getResults) {
    assert.equal(r.status, 200, `GET answered ${r.status} after ${Math.round(r.ms)} ms`)
    assert.equal(r.headers['x-backend'], 'healthy')
    assert.ok(r.ms < 7_000, `GET answered after ${Math.round(r.ms)} ms: it waited for a timeout`)
  }
  assert.ok(hanging.connections() >= 2, 'some requests were sent to the hanging backend')
  const metrics = await lb.metrics()
  const endpointDown = metrics.samples.filter((s) => s.name === 'lb_retries_total' && s.labels.reason === 'endpoint-down').reduce((n, s) => n + s.value, 0)
  assert.ok(endpointDown >= 1, `retries with reason endpoint-down: ${endpointDown}`)

  // POSTs on the hanging backend are not replayed: they get the header timeout's 504, and the healthy
  // backend saw each POST it answered exactly once.
  const postResults = await Promise.all(posts)
  assert.deepEqual(postResults.map((r) => r.status).sort(), [200, 504], 'one POST answered by the healthy backend, the other waited for the header timeout')
  assert.equal(healthy.requests.filter((x) => x.method === 'POST').length, 1, 'the POST sent to the hanging backend was not replayed')
})
