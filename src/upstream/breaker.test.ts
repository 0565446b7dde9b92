import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import diagnostics from 'node:diagnostics_channel'
import { CHANNELS, type CircuitEvent } from '../core/index.js'
import type { CircuitBreakerConfig } from '../config/index.js'
import { CircuitBreaker, ConcurrencyLimit, type CircuitState } from './breaker.js'

const base: CircuitBreakerConfig = {
  maxConnections: 0,
  maxPending: 0,
  maxRequests: 0,
  errorRatePercent: 50,
  minRequests: 4,
  windowMs: 1_000,
  openMs: 500,
  halfOpenRequests: 2,
}

function setup(overrides: Partial<CircuitBreakerConfig> = {}, maxOpenMs?: number) {
  let now = 10_000
  const clock = { now: () => now }
  const breaker = new CircuitBreaker({ pool: 'api', endpoint: 'a', config: { ...base, ...overrides }, clock, timers: false, maxOpenMs })
  const states: CircuitState[] = []
  breaker.onStateChange((c) => states.push(c.state))
  const advance = (ms: number): void => void (now += ms)
  /** Sends results through the breaker: '1' success, '0' failure. */
  const results = (script: string): void => {
    for (const c of script) {
      assert.equal(breaker.allowRequest(), true)
      breaker.onResult(c === '1')
    }
  }
  return { breaker, states, advance, results }
}

describe('CircuitBreaker', () => {
  it('stays closed below minRequests, whatever the error rate', () => {
    const { breaker, results } = setup()
    results('000')
    assert.equal(breaker.state, 'closed')
  })

  it('opens when the error rate reaches errorRatePercent with enough requests', () => {
    const { breaker, states, results } = setup()
    results('1101')
    assert.equal(breaker.state, 'closed', '1 of 4 failed: 25 %')
    results('0')
    assert.equal(breaker.state, 'closed', '2 of 5: 40 %')
    results('0')
    assert.equal(breaker.state, 'open', '3 of 6: 50 %')
    assert.equal(breaker.allowRequest(), false)
    assert.deepEqual(states, ['open'])
  })

  it('forgets results older than the window, bucket by bucket', () => {
    const { breaker, advance, results } = setup()
    results('000')
    advance(1_000)
    results('1110')
    assert.equal(breaker.state, 'closed', 'old failures slid out: 1 of 4')
    assert.deepEqual(breaker.windowCounts(), { total: 4, failures: 1 })
    advance(950)
    assert.deepEqual(breaker.windowCounts(), { total: 4, failures: 1 }, 'still inside the window')
    advance(100)
    assert.deepEqual(breaker.windowCounts(), { total: 0, failures: 0 })
  })

  it('open -> half-open after openMs, reported by nextTransitionAt and on the next look', () => {
    const { breaker, states, advance, results } = setup()
    results('0000')
    assert.equal(breaker.nextTransitionAt(), 10_500)
    advance(499)
    assert.equal(breaker.state, 'open')
    advance(1)
    assert.equal(breaker.nextTransitionAt(), undefined)
    assert.equal(breaker.state, 'half-open')
    assert.deepEqual(states, ['open', 'half-open'])
  })

  it('half-open lets at most halfOpenRequests trials through; all succeeding closes it', () => {
    const { breaker, states, advance, results } = setup()
    results('0000')
    advance(500)
    assert.equal(breaker.allowRequest(), true)
    assert.equal(breaker.allowRequest(), true)
    assert.equal(breaker.allowRequest(), false, 'no trial slot left')
    breaker.onResult(true)
    assert.equal(breaker.state, 'half-open')
    assert.equal(breaker.allowRequest(), false, 'the round admits halfOpenRequests trials in all')
    breaker.onResult(true)
    assert.equal(breaker.state, 'closed')
    assert.deepEqual(breaker.windowCounts(), { total: 0, failures: 0 }, 'closing starts a clean window')
    assert.deepEqual(states, ['open', 'half-open', 'closed'])
  })

  it('any failed trial opens it again, for twice as long, up to maxOpenMs; closing resets it', () => {
    const { breaker, advance, results } = setup({}, 1_500)
    results('0000')
    const lengths: number[] = []
    let t = 10_000
    for (let i = 0; i < 4; i++) {
      const until = breaker.nextTransitionAt() ?? t
      lengths.push(until - t)
      advance(until - t)
      t = until
      assert.equal(breaker.allowRequest(), true)
      breaker.onResult(false)
      assert.equal(breaker.state, 'open')
    }
    assert.deepEqual(lengths, [500, 1_000, 1_500, 1_500])
    const until = breaker.nextTransitionAt() ?? t
    advance(until - t)
    results('11')
    assert.equal(breaker.state, 'closed')
    results('0000')
    assert.equal((breaker.nextTransitionAt() ?? 0) - until, 500)
  })

  it('ignores results while open and stale results during half-open beyond the trials in flight', () => {
    const { breaker, advance, results } = setup({ halfOpenRequests: 1 })
    results('0000')
    breaker.onResult(false)
    breaker.onResult(true)
    assert.equal(breaker.state, 'open')
    advance(500)
    breaker.onResult(false)
    assert.equal(breaker.state, 'half-open', 'no trial in flight: ignored')
  })

  it('an abandoned trial frees its slot', () => {
    const { breaker, advance, results } = setup({ halfOpenRequests: 1 })
    results('0000')
    advance(500)
    assert.equal(breaker.allowRequest(), true)
    assert.equal(breaker.allowRequest(), false)
    breaker.onAbandoned()
    assert.equal(breaker.allowRequest(), true)
    breaker.onResult(true)
    assert.equal(breaker.state, 'closed')
  })

  it('errorRatePercent 0 never trips', () => {
    const { breaker, results } = setup({ errorRatePercent: 0 })
    results('0'.repeat(50))
    assert.equal(breaker.state, 'closed')
  })

  it('publishes each state on the circuit channel', () => {
    const seen: CircuitEvent[] = []
    const listener = (m: unknown): void => void seen.push(m as CircuitEvent)
    diagnostics.subscribe(CHANNELS.circuit, listener)
    try {
      const { breaker, advance, results } = setup({ halfOpenRequests: 1 })
      results('0000')
      advance(500)
      results('1')
      assert.equal(breaker.state, 'closed')
    } finally {
      diagnostics.unsubscribe(CHANNELS.circuit, listener)
    }
    assert.deepEqual(seen.map((e) => [e.pool, e.endpoint, e.state]), [['api', 'a', 'open'], ['api', 'a', 'half-open'], ['api', 'a', 'closed']])
  })

  it('an unref\'d timer reports open -> half-open without any request (mock timers)', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 })
    const breaker = new CircuitBreaker({ pool: 'api', endpoint: 'a', config: base, clock: { now: () => Date.now() } })
    const states: CircuitState[] = []
    breaker.onStateChange((c) => states.push(c.state))
    for (let i = 0; i < 4; i++) breaker.onResult(false)
    t.mock.timers.tick(499)
    assert.deepEqual(states, ['open'])
    t.mock.timers.tick(1)
    assert.deepEqual(states, ['open', 'half-open'])
    breaker.dispose()
  })

  it('concurrency limits: tryAcquire/release as counters, 0 = unlimited', () => {
    const { breaker } = setup({ maxRequests: 2, maxPending: 1 })
    assert.equal(breaker.tryAcquire(), true)
    assert.equal(breaker.tryAcquire(), true)
    assert.equal(breaker.tryAcquire(), false)
    assert.equal(breaker.requests.rejected, 1)
    breaker.release()
    assert.equal(breaker.tryAcquire(), true)
    assert.equal(breaker.pending.tryAcquire(), true)
    assert.equal(breaker.pending.tryAcquire(), false)
    const unlimited = new ConcurrencyLimit(0)
    for (let i = 0; i < 1_000; i++) assert.equal(unlimited.tryAcquire(), true)
    assert.equal(unlimited.current, 1_000)
    const one = new ConcurrencyLimit(1)
    one.release()
    assert.equal(one.current, 0, 'never below 0')
  })
})
