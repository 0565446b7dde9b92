/**
 * Resilience in one worker: passive ejection, per-try timeouts, which requests are retried, the
 * retry budget, circuit breaking and concurrency limits, and the events each state change emits.
 * Counts and states decide, never timings.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import diagnostics from 'node:diagnostics_channel'
import { Agent } from 'node:http'
import net from 'node:net'
import { CHANNELS } from '../../src/core/index.js'
import { httpRequest, startTestBackend, waitFor, getFreePort, type TestBackend } from '../helpers/index.js'
import { startInProcessProxy } from './harness.js'

type T = { after: (fn: () => unknown) => void }

async function backends(t: T, ...scripts: Array<Parameters<typeof startTestBackend>[0]['script']>): Promise<TestBackend[]> {
  const list = await Promise.all(scripts.map((script, i) => startTestBackend({ name: `b${i + 1}`, script })))
  t.after(() => Promise.all(list.map((b) => b.close())))
  return list
}

function tally(statuses: number[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1
  return out
}

const noHealth = { enabled: false }

test('a backend answering 503 to everything is ejected after the consecutive failures; GETs never see it', async (t) => {
  const [b1, b2, bad] = await backends(t, undefined, undefined, [503])
  const lb = await startInProcessProxy({
    pools: {
      p: {
        backends: [{ url: b1?.url }, { url: b2?.url }, { url: bad?.url, id: 'bad' }],
        healthCheck: noHealth,
        outlierDetection: { consecutiveFailures: 3, maxEjectedPercent: 50 },
      },
    },
  })
  t.after(() => lb.close())
  const statuses: number[] = []
  for (let i = 0; i < 30; i++) statuses.push((await httpRequest(`${lb.url}/x`)).status)
  assert.deepEqual(tally(statuses), { 200: 30 })
  assert.equal(lb.pool().get('bad')?.ejected, true)
  assert.equal(bad?.count(), 3, 'exactly consecutiveFailures tries reached it before the ejection')
})

test('with every backend failing, no more than maxEjectedPercent of the pool is ejected', async (t) => {
  const list = await backends(t, [503], [503], [503], [503])
  const lb = await startInProcessProxy({
    pools: {
      p: {
        backends: list.map((b) => ({ url: b.url })),
        healthCheck: noHealth,
        outlierDetection: { consecutiveFailures: 2, maxEjectedPercent: 50 },
        retries: { attempts: 1 },
      },
    },
  })
  t.after(() => lb.close())
  for (let i = 0; i < 40; i++) assert.equal((await httpRequest(`${lb.url}/`)).status, 503)
  const ejected = lb.pool().snapshot().filter((e) => e.ejected).length
  assert.equal(ejected, 2, '50 % of 4')
})

test('a backend that accepts and never answers costs one per-try timeout; the GET succeeds elsewhere and it is ejected', async (t) => {
  const [hang, ok] = await backends(t, ['hang'], undefined)
  const lb = await startInProcessProxy({
    pools: {
      p: {
        backends: [{ url: hang?.url, id: 'hang' }, { url: ok?.url, id: 'ok' }],
        healthCheck: noHealth,
        retries: { perTryTimeout: '300ms' },
        outlierDetection: { consecutiveFailures: 1 },
      },
    },
  })
  t.after(() => lb.close())
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await httpRequest(`${lb.url}/`)).status)
  assert.deepEqual(tally(statuses), { 200: 4 })
  assert.equal(hang?.count(), 1, 'the hung backend got one try, then was ejected')
  assert.equal(lb.pool().get('hang')?.ejected, true)
})

test('a POST whose body was sent is not retried; with Idempotency-Key it is; refused at connect it is', async (t) => {
  const [r1, r2, ok] = await backends(t, ['reset'], ['reset'], undefined)
  const closedPort = await getFreePort()
  const lb = await startInProcessProxy({
    pools: {
      resets: { backends: [{ url: r1?.url }, { url: r2?.url }], healthCheck: noHealth, outlierDetection: { enabled: false } },
      refused: { backends: [{ url: `http://127.0.0.1:${closedPort}` }, { url: ok?.url }], healthCheck: noHealth, outlierDetection: { enabled: false } },
    },
    routes: [
      { match: { pathPrefix: '/resets' }, pool: 'resets' },
      { match: { pathPrefix: '/refused' }, pool: 'refused' },
    ],
  })
  t.after(() => lb.close())
  const body = 'x'.repeat(1000)
  const plain = await httpRequest(`${lb.url}/resets`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } })
  assert.equal(plain.status, 502)
  assert.equal((r1?.count() ?? 0) + (r2?.count() ?? 0), 1, 'the POST reached one backend once')

  const keyed = await httpRequest(`${lb.url}/resets`, { method: 'POST', headers: { 'idempotency-key': 'k-1' } })
  assert.equal(keyed.status, 502)
  assert.equal((r1?.count() ?? 0) + (r2?.count() ?? 0), 1 + 3, 'with Idempotency-Key: 3 tries')

  for (let i = 0; i < 4; i++) {
    const res = await httpRequest(`${lb.url}/refused`, { method: 'POST', body })
    assert.equal(res.status, 200)
  }
  assert.equal(ok?.count(), 4, 'every POST refused at connect was served by the other backend')
})

/**
 * A backend that "crashes" once it holds `hold` requests: every connection is reset at once and the port
 * closes, as when its process is SIGKILLed under load.
 */
async function crashingBackend(t: T, hold: number): Promise<{ url: string; held: () => number }> {
  const sockets = new Set<net.Socket>()
  let held = 0
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('data', (d) => {
      held += d.toString('latin1').split('\r\n\r\n').length - 1
      if (held < hold) return
      server.close()
      for (const s of sockets) s.resetAndDestroy()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())))
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, held: () => held }
}

test('a backend dying with more requests in flight than the retry budget\'s floor: every GET is retried elsewhere', async (t) => {
  const crashing = await crashingBackend(t, 20)
  const [ok] = await backends(t, undefined)
  const lb = await startInProcessProxy({
    pools: {
      // Defaults otherwise: budget 20 % of active requests + 10 a second, 5 consecutive failures eject.
      p: { backends: [{ url: crashing.url, id: 'crashing' }, { url: ok?.url, id: 'ok' }], healthCheck: noHealth },
    },
  })
  t.after(() => lb.close())
  const agent = new Agent({ keepAlive: true, maxSockets: 40 })
  t.after(() => agent.destroy())
  // 40 at once, round robin: 20 reach the crashing backend, whose 20 resets then arrive together. The
  // budget alone would grant 10 of those retries; the rest come after the backend was ejected.
  const results = await Promise.all(Array.from({ length: 40 }, () => httpRequest(`${lb.url}/x`, { agent })))
  assert.equal(crashing.held(), 20)
  assert.deepEqual(tally(results.map((r) => r.status)), { 200: 40 }, results.find((r) => r.status !== 200)?.body)
  assert.equal(ok?.count(), 40)
  assert.ok(lb.pool().retryBudget.exhausted === 0, `${lb.pool().retryBudget.exhausted} retries refused by the budget`)
})

test('with all backends failing, retries add at most the budget over the offered load', async (t) => {
  const failing = { status: 503, delayMs: 20 }
  const list = await backends(t, [failing], [failing], [failing])
  const lb = await startInProcessProxy({
    pools: {
      p: {
        backends: list.map((b) => ({ url: b.url })),
        healthCheck: noHealth,
        outlierDetection: { enabled: false },
        // The breaker would stop the failing load before the budget matters: keep it closed here.
        circuitBreaker: { errorRatePercent: 0 },
        retries: { attempts: 3, budgetPercent: 20, minRetriesPerSecond: 5 },
      },
    },
  })
  t.after(() => lb.close())
  const agent = new Agent({ keepAlive: true, maxSockets: 20 })
  t.after(() => agent.destroy())
  const offered = 400
  let sent = 0
  const client = async (): Promise<void> => {
    while (sent < offered) {
      sent++
      assert.equal((await httpRequest(`${lb.url}/`, { agent })).status, 503)
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: 20 }, client))
  const seconds = Math.ceil((performance.now() - started) / 1000)
  const retries = list.reduce((n, b) => n + b.count(), 0) - offered
  // The budget: concurrent retries <= 20 % of active requests, plus a floor of 5 per second.
  // Without it, 3 attempts would triple the load (800 retries).
  const allowed = offered * 0.2 + 5 * (seconds + 1)
  assert.ok(retries <= allowed, `${retries} retries for ${offered} requests in ${seconds} s (allowed ${allowed})`)
  assert.ok(retries > 0, `some retries were granted (${retries}; budget ${JSON.stringify(lb.pool().retryBudget)})`)
})

test('breaker: concurrent-request limit exceeded -> the request goes elsewhere, else 503', async (t) => {
  const [b1, b2] = await backends(t, [{ status: 200, delayMs: 400 }], [{ status: 200, delayMs: 400 }])
  const lb = await startInProcessProxy({
    pools: { p: { backends: [{ url: b1?.url }, { url: b2?.url }], healthCheck: noHealth, circuitBreaker: { maxRequests: 1 } } },
  })
  t.after(() => lb.close())
  const results = await Promise.all([1, 2, 3].map(() => httpRequest(`${lb.url}/`)))
  assert.deepEqual(tally(results.map((r) => r.status)), { 200: 2, 503: 1 })
  assert.equal(b1?.count(), 1)
  assert.equal(b2?.count(), 1)
  assert.match(results.find((r) => r.status === 503)?.body ?? '', /LB_ERR_OVERLOADED/)
})

test('breaker: an error-rate trip opens the circuit, half-open lets the trial requests through, success closes it', async (t) => {
  const [b1] = await backends(t, [500])
  const events: string[] = []
  const onCircuit = (m: unknown): void => {
    events.push((m as { state: string }).state)
  }
  diagnostics.subscribe(CHANNELS.circuit, onCircuit)
  t.after(() => diagnostics.unsubscribe(CHANNELS.circuit, onCircuit))
  const lb = await startInProcessProxy({
    pools: {
      p: {
        backends: [{ url: b1?.url, id: 'b1' }],
        healthCheck: noHealth,
        outlierDetection: { enabled: false },
        retries: { attempts: 1 },
        circuitBreaker: { errorRatePercent: 50, minRequests: 5, window: '10s', open: '400ms', halfOpenRequests: 2 },
      },
    },
  })
  t.after(() => lb.close())
  for (let i = 0; i < 5; i++) assert.equal((await httpRequest(`${lb.url}/`)).status, 500)
  assert.equal(lb.pool().get('b1')?.circuitOpen, true)
  const refused = await httpRequest(`${lb.url}/`)
  assert.equal(refused.status, 503, 'open circuit: answered at once, the backend is not asked')
  assert.equal(b1?.count(), 5)
  b1?.setScript([{ status: 200, delayMs: 300 }])
  await waitFor(() => lb.pool().get('b1')?.breaker.state === 'half-open', { timeoutMs: 5000 })
  const trials = await Promise.all([1, 2, 3].map(() => httpRequest(`${lb.url}/`)))
  assert.deepEqual(tally(trials.map((r) => r.status)), { 200: 2, 503: 1 }, 'two trial requests in half-open')
  assert.equal(lb.pool().get('b1')?.breaker.state, 'closed')
  assert.equal((await httpRequest(`${lb.url}/`)).status, 200)
  assert.deepEqual(events, ['open', 'half-open', 'closed'])
})

test('ejections are emitted on the diagnostics channel, and a returning endpoint is announced too', async (t) => {
  const [bad, ok] = await backends(t, [503], undefined)
  const events: Array<{ endpoint: string; ejected: boolean }> = []
  const onEjection = (m: unknown): void => {
    events.push(m as { endpoint: string; ejected: boolean })
  }
  diagnostics.subscribe(CHANNELS.ejection, onEjection)
  t.after(() => diagnostics.unsubscribe(CHANNELS.ejection, onEjection))
  const lb = await startInProcessProxy({
    pools: {
      p: {
        backends: [{ url: bad?.url, id: 'bad' }, { url: ok?.url, id: 'ok' }],
        healthCheck: noHealth,
        outlierDetection: { consecutiveFailures: 2, baseEjection: '300ms', maxEjection: '1s' },
      },
    },
  })
  t.after(() => lb.close())
  for (let i = 0; i < 6; i++) assert.equal((await httpRequest(`${lb.url}/`)).status, 200)
  await waitFor(() => events.some((e) => e.endpoint === 'bad' && !e.ejected), { timeoutMs: 5000, message: 'no return event' })
  assert.deepEqual(events.slice(0, 2).map((e) => [e.endpoint, e.ejected]), [['bad', true], ['bad', false]])
})
