import { test } from 'node:test'
import assert from 'node:assert/strict'
import { VirtualTime, flood, settle } from './flood.suite.js'
import { LocalTokenSource, type RateLimitLeaseMessage } from './local-token-source.js'
import { RateLimitAuthority } from './rate-limit-authority.js'
import { RateLimitPrimary } from './rate-limit-primary.js'
import { RouteRateLimiter, type RateLimitPolicy } from './route-rate-limiter.js'
import { InProcessTokenSource, type TokenSource } from './token-source.js'

const POLICY: RateLimitPolicy = { ratePerSecond: 100, burst: 20, scope: 'local' }
const EXPECTED = 520 // burst + rate * 5 s

/** W workers, each with a LocalTokenSource whose messages reach one RateLimitPrimary after `delayMs` of virtual time. */
function workersThroughPrimary(time: VirtualTime, count: number, delayMs: number, policy = POLICY, route = 'api'): { limiters: RouteRateLimiter[]; primary: RateLimitPrimary; sent: RateLimitLeaseMessage[] } {
  const primary = new RateLimitPrimary({ clock: time })
  const limiters: RouteRateLimiter[] = []
  const sent: RateLimitLeaseMessage[] = []
  for (let w = 0; w < count; w++) {
    const source: LocalTokenSource = new LocalTokenSource((msg: RateLimitLeaseMessage) => {
      // Structured clone, as node:cluster's advanced serialization would do.
      const wire = structuredClone(msg)
      sent.push(wire)
      time.schedule(delayMs, () => {
        void primary.handle(wire).then((reply) => time.schedule(delayMs, () => source.handleGrant(structuredClone(reply))))
      })
    })
    limiters.push(new RouteRateLimiter({ route, policy, source, clock: time, timers: false }))
  }
  return { limiters, primary, sent }
}

test('2 workers through the primary (IPC shapes, 1 ms each way): a 5 s flood gets 500 + 20 (+/- 10 %)', async () => {
  const time = new VirtualTime()
  const { limiters } = workersThroughPrimary(time, 2, 1)
  const r = await flood(time, limiters, { durationMs: 5_000, perMs: 4 })
  console.log(`2 workers local: allowed ${r.allowed} of ${r.allowed + r.refused} (per worker ${r.perWorker.join(', ')})`)
  assert.ok(Math.abs(r.allowed - EXPECTED) <= EXPECTED * 0.1, `allowed ${r.allowed}`)
  // Both workers get a fair share.
  for (const n of r.perWorker) assert.ok(n > EXPECTED * 0.3, `per worker ${r.perWorker.join(', ')}`)
})

test('4 workers, 5 ms each way: still within 10 %', async () => {
  const time = new VirtualTime()
  const { limiters } = workersThroughPrimary(time, 4, 5)
  const r = await flood(time, limiters, { durationMs: 5_000, perMs: 2 })
  console.log(`4 workers local, 5 ms: allowed ${r.allowed}`)
  assert.ok(Math.abs(r.allowed - EXPECTED) <= EXPECTED * 0.1, `allowed ${r.allowed}`)
})

test('a burst on an idle key is not overspent by more than 10 % across 2 workers', async () => {
  const time = new VirtualTime()
  const { limiters } = workersThroughPrimary(time, 2, 1)
  // 100 ms flood: the bucket gives 20 + 10; the optimistic tokens may add 1 per worker.
  const r = await flood(time, limiters, { durationMs: 100, perMs: 10 })
  assert.ok(r.allowed >= 27 && r.allowed <= 30 + 3, `allowed ${r.allowed}`)
})

test('the first request of an unseen key is allowed without waiting for a lease', () => {
  const time = new VirtualTime()
  const { limiters } = workersThroughPrimary(time, 1, 50)
  const l = limiters[0] as RouteRateLimiter
  const r = l.check('new-client')
  assert.equal(r.allowed, true)
  assert.equal(r.limit, 20)
  assert.equal(r.retryAfterSeconds, 0)
})

test('light traffic below the rate is never refused, and leases nothing ahead', async () => {
  const time = new VirtualTime()
  const { limiters, primary, sent } = workersThroughPrimary(time, 2, 1, { ratePerSecond: 10, burst: 5, scope: 'local' })
  let refused = 0
  for (let ms = 0; ms < 10_000; ms += 10) {
    await time.advanceTo(ms)
    for (const l of limiters) if (ms % l.leaseIntervalMs === 0) void l.flush()
    // 5 requests/s per worker (10/s total = the rate), on one key.
    if (ms % 200 === 0) for (const l of limiters) if (!l.check('k').allowed) refused++
  }
  assert.equal(refused, 0)
  assert.ok(primary.authority.size <= 1)
  // Only what was used is charged (owed): no lease asks for tokens ahead of need.
  const requests = sent.flatMap((m) => m.batch.requests)
  assert.ok(requests.length > 0, 'the used tokens are reported')
  assert.deepEqual(requests.filter((r) => r.want > 0), [])
})

test('another key (and another route) is not limited by a flooded key', async () => {
  const time = new VirtualTime()
  const { limiters } = workersThroughPrimary(time, 2, 1)
  await flood(time, limiters, { durationMs: 500, perMs: 4, key: 'attacker' })
  const l = limiters[0] as RouteRateLimiter
  assert.equal(l.check('attacker').allowed, false)
  assert.equal(l.check('someone-else').allowed, true)
  const other = workersThroughPrimary(time, 1, 1, POLICY, 'other').limiters[0] as RouteRateLimiter
  assert.equal(other.check('attacker').allowed, true)
})

test('refusals carry Retry-After >= 1 and remaining 0', async () => {
  const time = new VirtualTime()
  const { limiters } = workersThroughPrimary(time, 1, 1)
  await flood(time, limiters, { durationMs: 50, perMs: 20 })
  const r = (limiters[0] as RouteRateLimiter).check('client')
  assert.equal(r.allowed, false)
  assert.equal(r.remaining, 0)
  assert.ok(r.retryAfterSeconds >= 1)
  assert.ok(r.resetSeconds >= 1)
})

test('source failing: each worker falls back to its own bucket and keeps limiting', async () => {
  const time = new VirtualTime()
  const failing: TokenSource = { lease: () => Promise.reject(new Error('primary gone')) }
  const limiters = [0, 1].map(() => new RouteRateLimiter({ route: 'api', policy: POLICY, source: failing, clock: time, timers: false }))
  const r = await flood(time, limiters, { durationMs: 5_000, perMs: 4 })
  // Per worker: 520 each.
  for (const n of r.perWorker) assert.ok(Math.abs(n - EXPECTED) <= EXPECTED * 0.1, `per worker ${r.perWorker.join(', ')}`)
  assert.ok((limiters[0] as RouteRateLimiter).fallbackBatches > 0)
})

test('memory stays bounded: at most maxKeys keys, idle keys swept', async () => {
  const time = new VirtualTime()
  const authority = new RateLimitAuthority({ clock: time, maxKeys: 50 })
  const l = new RouteRateLimiter({ route: 'api', policy: POLICY, source: new InProcessTokenSource(authority), clock: time, timers: false, maxKeys: 100, idleMs: 2_000 })
  for (let i = 0; i < 1_000; i++) l.check(`10.0.${i >> 8}.${i & 255}`)
  assert.equal(l.size, 100)
  await l.flush()
  await settle()
  assert.ok(authority.size <= 50, `authority ${authority.size}`)
  await time.advanceTo(5_000)
  await l.flush()
  assert.equal(l.size, 0)
  // Every bucket refilled: all of them are dropped without changing any decision, and the sweep counts them.
  const before = authority.size
  assert.ok(before > 0, 'the buckets are still held before the sweep')
  assert.equal(authority.sweep(), before)
  assert.equal(authority.size, 0)
})

test('a batch carries every busy key of the route in one call', async () => {
  const time = new VirtualTime()
  const batches: number[] = []
  const authority = new RateLimitAuthority({ clock: time })
  const source: TokenSource = {
    lease: (b) => {
      batches.push(b.requests.length)
      return Promise.resolve(authority.lease(b))
    },
  }
  const l = new RouteRateLimiter({ route: 'api', policy: POLICY, source, clock: time, timers: false })
  for (let k = 0; k < 30; k++) for (let i = 0; i < 5; i++) l.check(`k${k}`)
  await l.flush()
  assert.deepEqual(batches, [30])
})

test('rejects a bad policy', () => {
  const source = new InProcessTokenSource(new RateLimitAuthority())
  assert.throws(() => new RouteRateLimiter({ route: 'x', policy: { ratePerSecond: 0, burst: 1, scope: 'local' }, source, timers: false }), RangeError)
})

test('an unexpired allowance with no new demand waits for its expiry (no busy loop), then goes back', async () => {
  const time = new VirtualTime()
  const authority = new RateLimitAuthority({ clock: time })
  const l = new RouteRateLimiter({ route: 'api', policy: POLICY, source: new InProcessTokenSource(authority), clock: time, timers: false })
  for (let i = 0; i < 10; i++) l.check('k') // 1 optimistic + 9 refused: busy
  await l.flush() // leases up to 10 ahead
  await l.flush() // no demand, allowance not expired: nothing sent, must return
  await time.advanceTo(l.leaseIntervalMs)
  await l.flush() // expired: given back
  assert.equal(authority.sweep(), 1) // the bucket is full again (so dropped)
})
