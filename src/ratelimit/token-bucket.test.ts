import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TokenBucket } from './token-bucket.js'

test('starts full: grants the burst at once, then refuses', () => {
  const b = new TokenBucket(100, 20, 0)
  let n = 0
  while (b.tryTake(0)) n++
  assert.equal(n, 20)
  assert.equal(b.tryTake(0), false)
})

test('refills at the rate, capped at the burst', () => {
  const b = new TokenBucket(100, 20, 0)
  assert.equal(b.take(0, 1000), 20)
  assert.equal(b.take(10, 1000), 1) // 10 ms at 100/s = 1 token
  assert.equal(b.take(60, 1000), 5)
  assert.equal(b.level(100_000), 20) // a long idle time never exceeds the burst
})

test('over T seconds a flood gets burst + rate * T', () => {
  const b = new TokenBucket(100, 20, 0)
  let n = 0
  for (let t = 0; t < 5_000; t++) for (let i = 0; i < 3; i++) if (b.tryTake(t)) n++
  assert.ok(n >= 519 && n <= 520, `got ${n}`)
})

test('retryAfterMs and fullInMs on virtual time', () => {
  const b = new TokenBucket(10, 5, 1_000)
  assert.equal(b.retryAfterMs(1_000), 0)
  b.take(1_000, 5)
  assert.equal(b.retryAfterMs(1_000), 100)
  assert.equal(b.retryAfterMs(1_050), 50)
  assert.equal(b.retryAfterMs(1_050, 3), 250)
  assert.equal(b.fullInMs(1_050), 450)
  assert.equal(b.isFull(1_500), true)
})

test('tryTake(n) is all or nothing', () => {
  const b = new TokenBucket(1, 3, 0)
  assert.equal(b.tryTake(0, 4), false)
  assert.equal(b.level(0), 3)
  assert.equal(b.tryTake(0, 3), true)
})

test('force goes into debt (floored at -burst), give is capped at the burst', () => {
  const b = new TokenBucket(10, 5, 0)
  b.force(0, 8)
  assert.equal(b.level(0), -3)
  assert.equal(b.take(0, 1), 0)
  assert.equal(b.retryAfterMs(0), 400) // 4 tokens to get back to 1
  b.force(0, 100)
  assert.equal(b.level(0), -5)
  b.give(0, 100)
  assert.equal(b.level(0), 5)
})

test('a clock going back counts as no time passing', () => {
  const b = new TokenBucket(10, 5, 1_000)
  b.take(1_000, 5)
  assert.equal(b.level(500), 0)
  assert.equal(b.level(1_100), 1)
})

test('rejects a zero rate or burst', () => {
  assert.throws(() => new TokenBucket(0, 5, 0), RangeError)
  assert.throws(() => new TokenBucket(5, 0, 0), RangeError)
})
