import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BatchedCounter } from './counters.js'
import { MemoryStore } from './memory-store.js'
import { FlakyStore } from './store.suite.js'

test('counts locally, flushes in batches and returns the global window count', async (t) => {
  let now = 10_000
  const clock = { now: () => now }
  const root = new MemoryStore()
  const flaky = new FlakyStore(root.attach())
  const a = new BatchedCounter({ store: flaky, windowMs: 1_000, clock, flushIntervalMs: 60_000 })
  const b = new BatchedCounter({ store: root.attach(), windowMs: 1_000, clock, flushIntervalMs: 60_000 })
  t.after(async () => {
    await a.close()
    await b.close()
  })
  for (let i = 0; i < 5; i++) a.add('client-1')
  assert.equal(b.add('client-1', 3), 3, 'b sees only itself before a flush')
  await Promise.all([a.flush(), b.flush()])
  assert.equal(flaky.calls.get('incrementBy'), 1, 'one store call for five increments')
  await a.flush() // nothing pending: no call
  assert.equal(flaky.calls.get('incrementBy'), 1)
  assert.equal(b.count('client-1'), 8)
  assert.equal(a.add('client-1'), 6 + 0, 'a knew 5 at its flush (before b flushed), plus one')
  await a.flush()
  assert.equal(a.count('client-1'), 9)

  flaky.setDown(true) // local fallback: last known global + local since
  for (let i = 0; i < 4; i++) a.add('client-1')
  await a.flush()
  assert.equal(a.count('client-1'), 13)
  flaky.setDown(false)
  await a.flush()
  await b.flush()
  assert.equal(b.add('client-1', 0), 8, 'b has not flushed anything new')
  b.add('client-1')
  await b.flush()
  assert.equal(b.count('client-1'), 14, 'a\'s fallback increments reached the store after the outage')

  now += 1_000 // next window
  assert.equal(a.count('client-1'), 0)
  assert.equal(a.previousCount('client-1'), 13)
  assert.equal(a.add('client-1'), 1)
  assert.equal(a.windowStart(), 11_000)
})
