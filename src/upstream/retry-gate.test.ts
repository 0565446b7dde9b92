import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { RetryConfig } from '../config/index.js'
import { RetryBudget } from './retry.js'
import { RetryGate, type FailedTry, type RetryGatePool } from './retry-gate.js'

const retries: RetryConfig = { attempts: 3, on: ['connect-failure', 'reset', '503'], budgetPercent: 0, minRetriesPerSecond: 1, perTryTimeoutMs: 0, backoffBaseMs: 10, backoffMaxMs: 100 }
function pool(extra: Partial<RetryConfig> = {}): RetryGatePool {
  const config = { retries: { ...retries, ...extra } }
  return { name: 'p', config, retryBudget: new RetryBudget(config.retries) }
}
const reset: FailedTry = { outcome: 'reset', endpoint: 'a', tries: 1, refused: false, endpointReady: true, responseStarted: false, bodyStarted: false }

describe('RetryGate', () => {
  it('counts the request in the budget until close(), and gives back its granted retries then (close is idempotent)', () => {
    const p = pool()
    const gate = new RetryGate(p, 'GET', false, 'r1')
    assert.equal(p.retryBudget.activeRequests, 1)
    assert.equal(gate.judge(reset)?.retry, true, 'the per-second floor grants one')
    assert.equal(p.retryBudget.retriesInFlight, 1)
    assert.equal(gate.judge({ ...reset, tries: 2 }), undefined, 'floor spent, no share: refused')
    gate.close()
    gate.close()
    assert.equal(p.retryBudget.activeRequests, 0)
    assert.equal(p.retryBudget.retriesInFlight, 0)
    assert.equal(gate.judge(reset), undefined, 'a closed gate grants nothing')
  })

  it('stops at retries.attempts and never retries outcomes that say nothing about the backend', () => {
    const gate = new RetryGate(pool({ minRetriesPerSecond: 100 }), 'GET', false, 'r2')
    assert.equal(gate.judge({ ...reset, tries: 3 }), undefined)
    for (const outcome of ['client-aborted', 'body-too-large', 'abandoned', 'success'] as const) assert.equal(gate.judge({ ...reset, outcome }), undefined, outcome)
    assert.deepEqual(gate.judge({ ...reset, outcome: 'upstream-tls' }), { retry: true, reason: 'connect-failure' }, 'a failed handshake never reached the backend')
    assert.deepEqual(gate.judge({ ...reset, outcome: '5xx', status: 503 }), { retry: true, reason: '503' })
    assert.deepEqual(gate.judge({ ...reset, outcome: '5xx', status: 500 }), { retry: false, reason: 'not-listed' })
  })

  it('grants retries past the budget after a refused connection or when the endpoint left rotation', () => {
    const gate = new RetryGate(pool({ minRetriesPerSecond: 0 }), 'POST', false, 'r3')
    assert.equal(gate.judge({ ...reset, outcome: 'connect' }), undefined, 'no budget at all')
    assert.equal(gate.judge({ ...reset, outcome: 'connect', refused: true })?.retry, true)
    assert.equal(gate.judge({ ...reset, outcome: 'connect', endpointReady: false })?.retry, true)
  })

  it('waits only when no untried endpoint can take the retry', () => {
    const gate = new RetryGate(pool(), 'GET', false, 'r4')
    assert.equal(gate.delayMs(1, true), 0)
    for (let i = 0; i < 20; i++) {
      const d = gate.delayMs(2, false)
      assert.ok(d >= 0 && d < 20, `full jitter below base * 2: ${d}`)
    }
  })
})
