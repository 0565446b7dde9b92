import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FailureThrottle } from './failure-throttle.js'

test('FailureThrottle: refuses after maxFailures within the window, until the window ends; keys are separate', () => {
  let now = 1000
  const t = new FailureThrottle({ maxFailures: 3, windowMs: 10_000, clock: { now: () => now } })
  for (let i = 0; i < 3; i++) {
    assert.equal(t.retryAfterMs('a'), 0)
    t.fail('a')
  }
  assert.equal(t.retryAfterMs('a'), 10_000)
  assert.equal(t.retryAfterMs('b'), 0)
  now += 4000
  assert.equal(t.retryAfterMs('a'), 6000)
  now += 6000
  assert.equal(t.retryAfterMs('a'), 0)
  t.fail('a')
  assert.equal(t.retryAfterMs('a'), 0, 'a new window starts with one failure')
})

test('FailureThrottle: memory bounded by maxClients, oldest dropped first', () => {
  const t = new FailureThrottle({ maxFailures: 1, maxClients: 100, clock: { now: () => 0 } })
  for (let i = 0; i < 10_000; i++) t.fail(`10.0.${i >> 8}.${i & 255}`)
  assert.equal(t.size, 100)
  assert.equal(t.retryAfterMs('10.0.0.0'), 0)
  assert.ok(t.retryAfterMs('10.0.39.15') > 0)
})
