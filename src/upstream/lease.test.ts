import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { configFileSchema, type PoolConfig } from '../config/index.js'
import { UpstreamPool } from './pool.js'

/** A validated pool config over two endpoints, health checks off. */
function poolConfig(extra: Record<string, unknown> = {}): PoolConfig {
  const parsed = configFileSchema.parse({
    pools: { p: { backends: [{ url: 'http://127.0.0.1:1', id: 'a' }, { url: 'http://127.0.0.1:2', id: 'b' }], healthCheck: { enabled: false }, ...extra } },
  }) as { pools: Record<string, Omit<PoolConfig, 'name'>> }
  return { ...(parsed.pools.p as Omit<PoolConfig, 'name'>), name: 'p' }
}

function pool(t: TestContext, extra: Record<string, unknown> = {}): UpstreamPool {
  const p = new UpstreamPool(poolConfig(extra))
  t.after(() => p.close())
  return p
}

describe('UpstreamPool.acquire / Lease', () => {
  it('holds a breaker slot and an in-flight count until end(), which is idempotent', (t) => {
    const p = pool(t, { circuitBreaker: { maxRequests: 1 } })
    const a = p.acquire({})
    const b = p.acquire({})
    assert.ok(a !== undefined && b !== undefined)
    assert.notEqual(a.endpoint.id, b.endpoint.id)
    assert.equal(p.acquire({}), undefined, 'both slots taken')
    assert.equal(a.state.stats.inFlight, 1)
    a.end('success')
    a.end('success')
    assert.equal(a.state.stats.inFlight, 0, 'a second end() changes nothing')
    assert.equal(a.state.stats.completed, 1)
    const c = p.acquire({})
    assert.equal(c?.endpoint.id, a.endpoint.id, 'the freed slot is taken again')
    assert.equal(p.acquire({}), undefined, 'and only one was freed')
  })

  it('report() gives the verdict once; end() after it only frees the slot', (t) => {
    const p = pool(t, { outlierDetection: { consecutiveFailures: 1, maxEjectedPercent: 100 } })
    const lease = p.acquire({ exclude: new Set(['b']) })
    assert.equal(lease?.endpoint.id, 'a')
    lease.report('success')
    lease.end('reset') // a tunnel that closed with an error after the backend switched protocols
    assert.equal(p.get('a')?.ejected, false, 'the later outcome was not counted')
    const failed = p.acquire({ exclude: new Set(['b']) })
    failed?.end('reset')
    assert.equal(p.get('a')?.ejected, true, 'one failure ejects with consecutiveFailures 1')
  })

  it('tells waiting leases when their endpoint turns unhealthy or is ejected, not when drained or after the first byte', (t) => {
    const p = pool(t)
    const calls: string[] = []
    const waiting = p.acquire({ exclude: new Set(['b']) })
    const answered = p.acquire({ exclude: new Set(['b']) })
    assert.ok(waiting !== undefined && answered !== undefined)
    waiting.onEndpointDown = () => calls.push('waiting')
    answered.onEndpointDown = () => calls.push('answered')
    answered.firstByte()
    assert.equal(waiting.isWaiting, true)
    assert.equal(answered.isWaiting, false)
    p.setDrained('a', true)
    assert.deepEqual(calls, [], 'a drained endpoint finishes its requests')
    p.setDrained('a', false)
    p.setHealthy('a', false)
    assert.deepEqual(calls, ['waiting'])
    p.setHealthy('a', true)
    p.setEjected('a', true)
    assert.deepEqual(calls, ['waiting'], 'told once')
    waiting.end('abandoned')
    answered.end('success')
    assert.equal(p.get('a')?.stats.inFlight, 0)
  })
})
