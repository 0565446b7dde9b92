import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import diagnostics from 'node:diagnostics_channel'
import { CHANNELS, seededRandom, type Endpoint, type HealthTransition, type ProbeEvent } from '../../core/index.js'
import type { HealthCheckConfig } from '../../config/index.js'
import { ActiveHealthChecker, isExpectedStatus } from './active.js'

interface Backend {
  endpoint: Endpoint
  /** Requests seen, in order. */
  seen: { method: string; path: string; userAgent: string }[]
  /** Highest number of requests open at once. */
  maxConcurrent: number
}

/** A real backend on 127.0.0.1:0 replaying `script` (the last status repeats); 'hang' never answers. */
async function backend(t: TestContext, id: string, script: (number | 'hang')[], delayMs = 0): Promise<Backend> {
  const b: Backend = { endpoint: undefined as unknown as Endpoint, seen: [], maxConcurrent: 0 }
  let open = 0
  const server = http.createServer((req, res) => {
    b.seen.push({ method: req.method ?? '', path: req.url ?? '', userAgent: req.headers['user-agent'] ?? '' })
    open++
    b.maxConcurrent = Math.max(b.maxConcurrent, open)
    res.on('close', () => open--)
    const step = script[Math.min(b.seen.length - 1, script.length - 1)]
    if (step === 'hang' || step === undefined) return
    setTimeout(() => res.writeHead(step, { 'x-backend': id }).end('ok'), delayMs)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())).then(() => undefined))
  t.after(() => server.closeAllConnections())
  const { port } = server.address() as AddressInfo
  b.endpoint = { id, url: new URL(`http://127.0.0.1:${port}`), weight: 1, backup: false }
  return b
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function config(overrides: Partial<HealthCheckConfig> = {}): HealthCheckConfig {
  return {
    enabled: true,
    path: '/healthz',
    method: 'GET',
    intervalMs: 20,
    unhealthyIntervalMs: 20,
    timeoutMs: 1_000,
    expectedStatuses: [[100, 499]],
    healthyThreshold: 2,
    unhealthyThreshold: 2,
    jitter: 0.2,
    ...overrides,
  }
}

function checker(t: TestContext, overrides: Partial<HealthCheckConfig> = {}): ActiveHealthChecker {
  const c = new ActiveHealthChecker({ pool: 'api', config: config(overrides), random: seededRandom(7) })
  t.after(() => c.stop())
  return c
}

/** Resolves with the first `n` transitions (fails the test after 3 s). */
function transitions(c: ActiveHealthChecker, n: number): Promise<HealthTransition[]> {
  const seen: HealthTransition[] = []
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${n} transitions`)), 3_000)
    const off = c.onTransition((tr) => {
      seen.push(tr)
      if (seen.length < n) return
      off()
      clearTimeout(timer)
      resolve(seen)
    })
  })
}

/** Resolves with the first `n` probe events for `endpoint`. */
function probes(t: TestContext, endpoint: string, n: number): Promise<ProbeEvent[]> {
  const seen: ProbeEvent[] = []
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${n} probes`)), 3_000)
    const listener = (message: unknown): void => {
      const event = message as ProbeEvent
      if (event.endpoint !== endpoint || seen.length >= n) return
      seen.push(event)
      if (seen.length < n) return
      clearTimeout(timer)
      queueMicrotask(() => diagnostics.unsubscribe(CHANNELS.probe, listener))
      resolve(seen)
    }
    diagnostics.subscribe(CHANNELS.probe, listener)
    t.after(() => diagnostics.unsubscribe(CHANNELS.probe, listener))
  })
}

describe('ActiveHealthChecker', () => {
  it('probes at once with the configured method, path and User-Agent, and publishes each probe', async (t) => {
    const b = await backend(t, 'a', [204])
    const c = checker(t, { method: 'HEAD', path: '/ping' })
    const events = probes(t, 'a', 2)
    c.start([b.endpoint])
    assert.deepEqual(await events, [
      { pool: 'api', endpoint: 'a', result: 'success', status: 204 },
      { pool: 'api', endpoint: 'a', result: 'success', status: 204 },
    ])
    assert.deepEqual(b.seen[0], { method: 'HEAD', path: '/ping', userAgent: 'lb-health-check' })
    assert.equal(c.isHealthy('a'), true)
    const [snap] = c.snapshot()
    assert.equal(snap?.lastStatus, 204)
    assert.equal(snap?.lastError, undefined)
    assert.equal(typeof snap?.lastProbeAt, 'number')
    await c.stop()
    assert.equal(c.snapshot()[0]?.nextProbeAt, undefined)
  })

  it('sends one probe per interval to an address shared by many endpoint ids, and records it for each', async (t) => {
    // 100 ids in front of one backend (as a config naming ids, or a DNS name, gives): the backend must see
    // one probe per interval, not 100; every id still gets each probe's outcome and its own transition.
    const b = await backend(t, 'shared', [200, 200, 503, 503, 503])
    const ids = Array.from({ length: 100 }, (_, i) => `e${i}`)
    const c = checker(t, { intervalMs: 30, unhealthyIntervalMs: 30 })
    const down = transitions(c, ids.length)
    const lastProbes = probes(t, 'e99', 4)
    c.start(ids.map((id) => ({ ...b.endpoint, id })))
    const flipped = await down
    assert.deepEqual(new Set(flipped.map((tr) => tr.id)), new Set(ids))
    assert.ok(flipped.every((tr) => !tr.healthy && tr.reason === 'status 503'))
    await lastProbes
    // Four probes reached e99, so at least four went out; at most one more can have started since.
    assert.ok(b.seen.length >= 4 && b.seen.length <= 5, `${b.seen.length} probes for 100 ids on one address`)
    assert.equal(b.maxConcurrent, 1)
    assert.ok(c.snapshot().every((s) => s.lastStatus === 503 && !s.healthy))
    // Ids leaving one by one keep the schedule while any remains; a new address gets its own.
    const other = await backend(t, 'other', [200])
    c.start([{ ...b.endpoint, id: 'e0' }, { ...other.endpoint, id: 'o' }])
    await probes(t, 'o', 2)
    await probes(t, 'e0', 1)
    await c.stop()
    assert.ok(c.snapshot().every((s) => s.nextProbeAt === undefined))
  })

  it('follows a status script through the fall and rise thresholds', async (t) => {
    const b = await backend(t, 'a', [200, 503, 200, 503, 503, 200, 503, 200, 200])
    const c = checker(t)
    const health: unknown[] = []
    const onHealth = (m: unknown): void => void health.push(m)
    diagnostics.subscribe(CHANNELS.health, onHealth)
    t.after(() => diagnostics.unsubscribe(CHANNELS.health, onHealth))
    const flips = transitions(c, 2)
    c.start([b.endpoint])
    const [down, up] = await flips
    assert.equal(b.seen.length, 9)
    assert.deepEqual([down?.healthy, down?.reason, up?.healthy, up?.reason], [false, 'status 503', true, 'status 200'])
    assert.ok((up?.at ?? 0) > (down?.at ?? 0))
    assert.deepEqual(health.map((e) => (e as { healthy: boolean }).healthy), [false, true])
    assert.equal(c.isHealthy('a'), true)
  })

  it('statuses outside expectedStatuses count as failures', async (t) => {
    const b = await backend(t, 'a', [404])
    const c = checker(t, { expectedStatuses: [[200, 299]], unhealthyThreshold: 1 })
    const flips = transitions(c, 1)
    c.start([b.endpoint])
    assert.deepEqual((await flips).map((x) => x.reason), ['status 404'])
    assert.equal(c.isHealthy('a'), false)
  })

  it('a backend that never answers fails with `timeout`', async (t) => {
    const b = await backend(t, 'a', ['hang'])
    const c = checker(t, { timeoutMs: 40, unhealthyThreshold: 1 })
    const flips = transitions(c, 1)
    c.start([b.endpoint])
    const [flip] = await flips
    assert.deepEqual([flip?.healthy, flip?.reason], [false, 'timeout'])
    assert.equal(c.snapshot()[0]?.lastError, 'timeout')
  })

  it('a closed port fails with ECONNREFUSED', async (t) => {
    const port = await closedPort()
    const c = checker(t, { unhealthyThreshold: 1 })
    const flips = transitions(c, 1)
    c.start([{ id: 'gone', url: new URL(`http://127.0.0.1:${port}`), weight: 1, backup: false }])
    assert.equal((await flips)[0]?.reason, 'ECONNREFUSED')
    assert.equal(c.isHealthy('gone'), false)
    assert.equal(c.snapshot()[0]?.lastStatus, undefined)
  })

  it('starts unhealthy when asked and rises after `rise` successes', async (t) => {
    const b = await backend(t, 'a', [200])
    const c = new ActiveHealthChecker({ pool: 'api', config: config(), initiallyHealthy: false })
    t.after(() => c.stop())
    const flips = transitions(c, 1)
    c.start([b.endpoint])
    assert.equal(c.isHealthy('a'), false)
    assert.deepEqual((await flips).map((x) => x.healthy), [true])
    assert.equal(b.seen.length, 2)
  })

  it('schedules the next probe interval + random * jitter * interval after the last, faster while unhealthy', async (t) => {
    const up = await backend(t, 'up', [200])
    const down = await backend(t, 'down', [503])
    const c = new ActiveHealthChecker({
      pool: 'api',
      config: config({ intervalMs: 1_000, unhealthyIntervalMs: 60, jitter: 0.5, unhealthyThreshold: 1 }),
      clock: { now: () => 5_000 },
      random: () => 0.5,
    })
    t.after(() => c.stop())
    c.start([up.endpoint, down.endpoint])
    const scheduled = async (): Promise<(number | undefined)[]> => {
      for (let i = 0; i < 100_000; i++) {
        const next = c.snapshot().map((s) => s.nextProbeAt)
        if (next.every((x) => x !== undefined)) return next
        await new Promise((resolve) => setImmediate(resolve))
      }
      return []
    }
    assert.deepEqual(await scheduled(), [5_000 + 1_000 + 250, 5_000 + 60 + 15])
  })

  it('never overlaps probes to one endpoint, even when slower than the interval', async (t) => {
    const b = await backend(t, 'a', [200], 60)
    const c = checker(t, { intervalMs: 5 })
    const events = probes(t, 'a', 4)
    c.start([b.endpoint])
    await events
    assert.equal(b.maxConcurrent, 1)
  })

  it('start() again: added endpoints start, removed ones stop, survivors keep their state', async (t) => {
    const a = await backend(t, 'a', [503])
    const b = await backend(t, 'b', [200])
    const c = await backend(t, 'c', [200])
    const hc = checker(t)
    const flips = transitions(hc, 1)
    hc.start([a.endpoint, b.endpoint])
    assert.equal((await flips)[0]?.id, 'a')
    const all: HealthTransition[] = []
    hc.onTransition((x) => all.push(x))
    const firstC = probes(t, 'c', 1)
    hc.start([a.endpoint, c.endpoint])
    // A probe of b already on the wire when it was removed may still reach it: count from c's first.
    await firstC
    await new Promise((r) => setTimeout(r, 50))
    const bCount = b.seen.length
    await probes(t, 'c', 3)
    assert.equal(b.seen.length, bCount, 'removed endpoint is no longer probed')
    assert.equal(hc.isHealthy('a'), false, 'survivor kept its state')
    assert.equal(hc.isHealthy('b'), false, 'unknown ids are not healthy')
    assert.deepEqual(all, [], 'no transition from the list change')
    assert.deepEqual(hc.snapshot().map((s) => s.id), ['a', 'c'])
  })

  it('stop() ends probing and aborts the probe in flight without counting it', async (t) => {
    const b = await backend(t, 'a', ['hang'])
    const c = checker(t, { timeoutMs: 5_000, unhealthyThreshold: 1 })
    const all: HealthTransition[] = []
    c.onTransition((x) => all.push(x))
    c.start([b.endpoint])
    while (b.seen.length === 0) await new Promise((resolve) => setImmediate(resolve))
    await c.stop()
    assert.deepEqual(all, [])
    assert.equal(c.isHealthy('a'), true)
    assert.equal(b.seen.length, 1)
  })

  it('does not probe when disabled', async (t) => {
    const b = await backend(t, 'a', [503])
    const c = checker(t, { enabled: false })
    c.start([b.endpoint])
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(b.seen.length, 0)
    assert.equal(c.isHealthy('a'), true)
  })

  it('isExpectedStatus: inclusive ranges; empty list means below 500', () => {
    assert.equal(isExpectedStatus(200, [[200, 299]]), true)
    assert.equal(isExpectedStatus(299, [[200, 299]]), true)
    assert.equal(isExpectedStatus(300, [[200, 299]]), false)
    assert.equal(isExpectedStatus(418, [[200, 299], [418, 418]]), true)
    assert.equal(isExpectedStatus(499, []), true)
    assert.equal(isExpectedStatus(500, []), false)
  })
})

describe('ActiveHealthChecker on an HTTP/2 pool', () => {
  it('probes an h2c-only backend (a gRPC server) over HTTP/2 and finds it healthy', async (t) => {
    const seen: string[] = []
    const server = http2.createServer((req, res) => {
      seen.push(`${req.httpVersion} ${req.method} ${req.url} ${req.headers['user-agent'] ?? ''}`)
      res.writeHead(200).end('ok')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const { port } = server.address() as AddressInfo
    const c = new ActiveHealthChecker({ pool: 'grpc', config: config(), initiallyHealthy: false, protocol: 'h2c' })
    t.after(() => c.stop())
    const flipped = transitions(c, 1)
    c.start([{ id: 'g', url: new URL(`http://127.0.0.1:${port}`), weight: 1, backup: false }])
    const [tr] = await flipped
    assert.equal(tr?.healthy, true)
    assert.equal(seen[0], '2.0 GET /healthz lb-health-check')
  })
})
