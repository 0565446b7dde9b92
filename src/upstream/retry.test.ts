import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { RetryCondition } from '../config/index.js'
import { seededRandom } from '../core/index.js'
import { RetryBudget, backoffMs, classifyGrpcRetry, classifyRetry, retryConditionOf, type RetryFailure, type RetryRequestFacts } from './retry.js'

const on: RetryCondition[] = ['connect-failure', 'reset', 'timeout', '502', 'status:429']
const get: RetryRequestFacts = { method: 'GET', hasIdempotencyKey: false, connectionEstablished: true, responseBytesSentToClient: false, requestBodyStarted: false }
const post: RetryRequestFacts = { ...get, method: 'POST' }
const connect: RetryFailure = { kind: 'connect' }
const reset: RetryFailure = { kind: 'reset' }
const status = (s: number): RetryFailure => ({ kind: 'status', status: s })

describe('classifyRetry', () => {
  it('connect failures are retryable for any method', () => {
    assert.deepEqual(classifyRetry(on, connect, { ...post, connectionEstablished: false }), { retry: true, reason: 'connect-failure' })
    assert.deepEqual(classifyRetry(on, { kind: 'timeout' }, { ...post, connectionEstablished: false }), { retry: true, reason: 'connect-failure' }, 'a connect timeout is a connect failure')
    assert.equal(classifyRetry(on, connect, { ...get, method: 'PATCH' }).retry, true)
  })

  it('other failures only for idempotent methods or with an Idempotency-Key', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE', 'get']) {
      assert.deepEqual(classifyRetry(on, reset, { ...get, method }), { retry: true, reason: 'reset' }, method)
    }
    for (const method of ['POST', 'PATCH', 'CONNECT']) {
      assert.deepEqual(classifyRetry(on, reset, { ...get, method }), { retry: false, reason: 'not-idempotent' }, method)
    }
    assert.deepEqual(classifyRetry(on, { kind: 'timeout' }, { ...post, hasIdempotencyKey: true }), { retry: true, reason: 'timeout' })
  })

  it('never after a response byte reached the client, or once the body was consumed', () => {
    assert.deepEqual(classifyRetry(on, reset, { ...get, responseBytesSentToClient: true }), { retry: false, reason: 'response-started' })
    assert.deepEqual(classifyRetry(on, connect, { ...get, responseBytesSentToClient: true }), { retry: false, reason: 'response-started' })
    assert.deepEqual(classifyRetry(on, reset, { ...get, method: 'PUT', requestBodyStarted: true }), { retry: false, reason: 'body-started' })
  })

  it('a status is retryable only when listed in `on`', () => {
    assert.deepEqual(classifyRetry(on, status(502), get), { retry: true, reason: '502' })
    assert.deepEqual(classifyRetry(on, status(503), get), { retry: false, reason: 'not-listed' })
    assert.deepEqual(classifyRetry(on, status(504), get), { retry: false, reason: 'not-listed' })
    assert.deepEqual(classifyRetry(on, status(429), get), { retry: true, reason: 'status:429' })
    assert.deepEqual(classifyRetry(on, status(500), get), { retry: false, reason: 'not-listed' })
    assert.deepEqual(classifyRetry(['status:503'], status(503), get), { retry: true, reason: '503' })
    assert.deepEqual(classifyRetry(on, status(502), post), { retry: false, reason: 'not-idempotent' })
  })

  it('unlisted failure kinds are not retried', () => {
    assert.deepEqual(classifyRetry(['502'], connect, { ...get, connectionEstablished: false }), { retry: false, reason: 'not-listed' })
    assert.deepEqual(classifyRetry([], reset, get), { retry: false, reason: 'not-listed' })
  })

  it('retryConditionOf names the condition', () => {
    assert.equal(retryConditionOf(status(503), true), '503')
    assert.equal(retryConditionOf(status(418), true), 'status:418')
    assert.equal(retryConditionOf(reset, false), 'connect-failure')
  })
})

describe('backoffMs', () => {
  it('full jitter under an exponential ceiling capped at maxMs', () => {
    assert.equal(backoffMs(1, 100, 1_000, () => 0.999999), 99.9999)
    assert.equal(backoffMs(2, 100, 1_000, () => 0.5), 100)
    assert.equal(backoffMs(3, 100, 1_000, () => 0.5), 200)
    assert.equal(backoffMs(10, 100, 1_000, () => 0.5), 500)
    assert.equal(backoffMs(0, 100, 1_000, () => 0.5), 50, 'attempt < 1 counts as 1')
    assert.equal(backoffMs(3, 0, 1_000, () => 0.5), 0)
    assert.equal(backoffMs(5, 100, 0, () => 0.5), 800, 'maxMs 0: no ceiling')
    assert.equal(backoffMs(10_000, 100, 1_000, () => 0.5), 500, 'huge attempts stay finite')
  })

  it('spreads delays over [0, ceiling)', () => {
    const random = seededRandom(42)
    const xs = Array.from({ length: 10_000 }, () => backoffMs(3, 100, 1_000, random))
    assert.ok(xs.every((x) => x >= 0 && x < 400))
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length
    assert.ok(Math.abs(mean - 200) < 10, `mean ${mean}`)
  })
})

describe('RetryBudget', () => {
  function setup(budgetPercent: number, minRetriesPerSecond: number) {
    let now = 0
    const budget = new RetryBudget({ budgetPercent, minRetriesPerSecond, clock: { now: () => now } })
    return { budget, advance: (ms: number) => void (now += ms) }
  }

  it('allows concurrent retries up to budgetPercent of active requests', () => {
    const { budget } = setup(20, 0)
    for (let i = 0; i < 10; i++) budget.requestStarted()
    assert.deepEqual([budget.tryAcquireRetry(), budget.tryAcquireRetry(), budget.tryAcquireRetry()], [true, true, false])
    assert.equal(budget.exhausted, 1)
    budget.releaseRetry()
    assert.equal(budget.tryAcquireRetry(), true, 'a released retry frees budget')
    for (let i = 0; i < 5; i++) budget.requestFinished()
    budget.releaseRetry()
    assert.equal(budget.retriesInFlight, 1)
    assert.equal(budget.tryAcquireRetry(), false, '20 % of 5 active is 1, and 1 is in flight')
    assert.deepEqual([budget.granted, budget.exhausted], [3, 2])
  })

  it('always allows minRetriesPerSecond per second, however few requests are active', () => {
    const { budget, advance } = setup(20, 3)
    budget.requestStarted()
    assert.deepEqual([1, 2, 3, 4].map(() => budget.tryAcquireRetry()), [true, true, true, false])
    advance(999)
    assert.equal(budget.tryAcquireRetry(), false)
    advance(1)
    assert.deepEqual([1, 2, 3, 4].map(() => budget.tryAcquireRetry()), [true, true, true, false], 'the earlier grants left the last second')
    advance(500)
    assert.equal(budget.tryAcquireRetry(), false)
  })

  it('an unrationed retry (refused connection) is granted when the budget is spent, and counted', () => {
    const { budget } = setup(20, 0)
    for (let i = 0; i < 5; i++) budget.requestStarted()
    assert.equal(budget.tryAcquireRetry(), true)
    assert.equal(budget.tryAcquireRetry(), false, 'the share is spent')
    assert.deepEqual([budget.tryAcquireRetry(true), budget.tryAcquireRetry(true)], [true, true])
    assert.deepEqual([budget.retriesInFlight, budget.granted, budget.exhausted], [3, 3, 1])
    assert.equal(budget.tryAcquireRetry(), false, 'unrationed grants still take share from rationed ones')
  })

  it('no floor and no traffic: no retries; counters never go below 0', () => {
    const { budget } = setup(100, 0)
    assert.equal(budget.tryAcquireRetry(), false)
    budget.requestFinished()
    budget.releaseRetry()
    assert.deepEqual([budget.activeRequests, budget.retriesInFlight], [0, 0])
  })
})

describe('classifyRetry endpoint-down', () => {
  it('retries idempotent requests whatever `on` lists, never others or once started', () => {
    const facts = { method: 'GET', hasIdempotencyKey: false, connectionEstablished: true, responseBytesSentToClient: false, requestBodyStarted: false }
    assert.deepEqual(classifyRetry(['connect-failure'], { kind: 'endpoint-down' }, facts), { retry: true, reason: 'endpoint-down' })
    assert.deepEqual(classifyRetry([], { kind: 'endpoint-down' }, facts), { retry: true, reason: 'endpoint-down' })
    assert.deepEqual(classifyRetry([], { kind: 'endpoint-down' }, { ...facts, method: 'POST' }), { retry: false, reason: 'not-idempotent' })
    assert.deepEqual(classifyRetry([], { kind: 'endpoint-down' }, { ...facts, method: 'POST', hasIdempotencyKey: true }), { retry: true, reason: 'endpoint-down' })
    assert.deepEqual(classifyRetry([], { kind: 'endpoint-down' }, { ...facts, requestBodyStarted: true }), { retry: false, reason: 'body-started' })
    assert.deepEqual(classifyRetry([], { kind: 'endpoint-down' }, { ...facts, responseBytesSentToClient: true }), { retry: false, reason: 'response-started' })
  })
})

describe('classifyGrpcRetry', () => {
  const on: RetryCondition[] = ['connect-failure', 'reset', 'timeout', '502', '503', '504']
  const call: RetryRequestFacts = { method: 'POST', hasIdempotencyKey: false, connectionEstablished: true, responseBytesSentToClient: false, requestBodyStarted: false }
  it('UNAVAILABLE before any response byte is retried, whatever the method', () => {
    assert.deepEqual(classifyGrpcRetry(on, { kind: 'connect' }, { ...call, connectionEstablished: false }), { retry: true, reason: 'connect-failure' })
    assert.deepEqual(classifyGrpcRetry(on, { kind: 'reset' }, call), { retry: true, reason: 'reset' })
    assert.deepEqual(classifyGrpcRetry([], { kind: 'status', status: 200, grpcStatus: 14 }, call), { retry: true, reason: 'grpc-unavailable' })
    assert.deepEqual(classifyGrpcRetry(on, { kind: 'status', status: 503 }, call), { retry: true, reason: '503' })
  })
  it('other statuses, timeouts and cancellations are final', () => {
    assert.deepEqual(classifyGrpcRetry(on, { kind: 'status', status: 200, grpcStatus: 13 }, call), { retry: false, reason: 'not-unavailable' })
    assert.deepEqual(classifyGrpcRetry(on, { kind: 'status', status: 500 }, call), { retry: false, reason: 'not-unavailable' })
    assert.deepEqual(classifyGrpcRetry(on, { kind: 'timeout' }, call), { retry: false, reason: 'not-unavailable' })
    assert.deepEqual(classifyGrpcRetry(on, { kind: 'endpoint-down' }, call), { retry: false, reason: 'not-unavailable' })
  })
  it('never after response bytes, never with a body that cannot be replayed, only listed conditions', () => {
    assert.deepEqual(classifyGrpcRetry(on, { kind: 'reset' }, { ...call, responseBytesSentToClient: true }), { retry: false, reason: 'response-started' })
    assert.deepEqual(classifyGrpcRetry(on, { kind: 'reset' }, { ...call, requestBodyStarted: true }), { retry: false, reason: 'body-started' })
    assert.deepEqual(classifyGrpcRetry(['connect-failure'], { kind: 'reset' }, call), { retry: false, reason: 'not-listed' })
  })
})
