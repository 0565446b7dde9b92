import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { startRedis } from '../../test/helpers/redis.js'
import { assertRateHeld } from '../../test/helpers/rate-bounds.js'
import { MemoryStore, RedisStore, whenUp, type StateStore } from '../state/index.js'
import { DelayedSource, VirtualTime, flood } from './flood.suite.js'
import { RateLimitAuthority } from './rate-limit-authority.js'
import { RateLimitPrimary } from './rate-limit-primary.js'
import { RouteRateLimiter, type RateLimitPolicy } from './route-rate-limiter.js'
import { StoreTokenSource, hasTakeTokens } from './store-token-source.js'
import { InProcessTokenSource } from './token-source.js'

const POLICY: RateLimitPolicy = { ratePerSecond: 100, burst: 20, scope: 'global' }

/** `instances` x `workers` limiters on virtual time, each instance with its own StoreTokenSource on a shared store. */
function fleet(time: VirtualTime, stores: StateStore[], workers: number): RouteRateLimiter[] {
  const out: RouteRateLimiter[] = []
  for (const store of stores) {
    const source = new StoreTokenSource(store, { wallClock: time, fallback: new InProcessTokenSource(new RateLimitAuthority({ clock: time })) })
    for (let w = 0; w < workers; w++) out.push(new RouteRateLimiter({ route: 'api', policy: POLICY, source: new DelayedSource(time, source, 1), clock: time, timers: false }))
  }
  return out
}

test('memory store, compare-and-set path: 2 instances x 2 workers, 5 s flood gets 520 (+/- 10 %)', async () => {
  const time = new VirtualTime()
  const memory = new MemoryStore({ clock: time })
  const limiters = fleet(time, [memory.attach(), memory.attach()], 2)
  const r = await flood(time, limiters, { durationMs: 5_000, perMs: 2 })
  console.log(`memory store CAS, 2x2: allowed ${r.allowed} (per worker ${r.perWorker.join(', ')})`)
  assert.ok(Math.abs(r.allowed - 520) <= 52, `allowed ${r.allowed}`)
})

test('a memory store has no takeTokens: the compare-and-set path serves it', () => {
  assert.equal(hasTakeTokens(new MemoryStore()), false)
})

test('primary with a memory store (scope instance): global batches use the local authority', async () => {
  const primary = new RateLimitPrimary({ store: new MemoryStore() })
  assert.equal(primary.storeSource, undefined)
  const grants = await primary.lease({ route: 'r', scope: 'global', ratePerSecond: 1, burst: 3, requests: [{ key: 'k', want: 5, owed: 0, giveBack: 0 }] })
  assert.deepEqual(grants, [{ granted: 3, remaining: 0 }])
})

/** What {@link realFlood} counted: allowed per limiter, checks made in all, and how long it really took (ms). */
interface RealFlood {
  counts: number[]
  sent: number
  elapsedMs: number
}

/** Real-time flood: `perTick` checks per limiter per event-loop turn for `ms`. */
async function realFlood(limiters: RouteRateLimiter[], ms: number, perTick = 4): Promise<RealFlood> {
  const counts = limiters.map(() => 0)
  let sent = 0
  const started = performance.now()
  const end = started + ms
  while (performance.now() < end) {
    limiters.forEach((l, i) => {
      for (let k = 0; k < perTick; k++) {
        sent++
        if (l.check('client').allowed) counts[i] = (counts[i] ?? 0) + 1
      }
    })
    await new Promise((resolve) => setImmediate(resolve))
  }
  return { counts, sent, elapsedMs: performance.now() - started }
}

/** {@link POLICY} against a real-time flood of `limiters` (all of them sharing one bucket). */
function assertPolicyHeld(f: RealFlood, limiters: number[], label: string): void {
  const allowed = limiters.reduce((sum, i) => sum + (f.counts[i] ?? 0), 0)
  const sent = Math.round((f.sent * limiters.length) / f.counts.length)
  assertRateHeld({ allowed, sent, elapsedMs: f.elapsedMs, ratePerSecond: POLICY.ratePerSecond, burst: POLICY.burst }, label)
}

test('real Redis: two instances sharing it hold the global total; Lua takeTokens; store down -> local fallback', async (t) => {
  const redis = await startRedis()
  t.after(() => redis.stop())
  const stores = [new RedisStore({ url: redis.url }), new RedisStore({ url: redis.url })]
  t.after(() => Promise.all(stores.map((s) => s.close())))
  for (const s of stores) assert.equal(await whenUp(s), true)
  const primaries = stores.map((store) => new RateLimitPrimary({ store }))
  const make = (p: RateLimitPrimary, route: string): RouteRateLimiter => new RouteRateLimiter({ route, policy: POLICY, source: { lease: (b) => p.lease(b) } })
  const all: RouteRateLimiter[] = []
  t.after(() => all.forEach((l) => l.close()))

  await t.test('RedisStore (its takeTokens script): 2 instances x 2 workers, 3 s flood gets burst + rate x elapsed (counted)', async () => {
    const limiters = primaries.flatMap((p) => [make(p, 'cas'), make(p, 'cas')])
    all.push(...limiters)
    const f = await realFlood(limiters, 3_000)
    assertPolicyHeld(f, [0, 1, 2, 3], `redis takeTokens, 2 instances x 2 workers (per worker ${f.counts.join(', ')})`)
    assert.equal(primaries.every((p) => p.storeSource?.fallbackCount === 0), true)
  })

  await t.test('RedisStore leases through takeTokens (never compare-and-set), and an idle bucket expires', async () => {
    const client = new Redis(redis.url)
    client.on('error', () => {}) // the server is killed by a later subtest
    t.after(() => client.disconnect())
    assert.equal(stores.every((s) => hasTakeTokens(s)), true)
    const limiters = primaries.flatMap((p) => [make(p, 'lua'), make(p, 'lua')])
    all.push(...limiters)
    const f = await realFlood(limiters, 2_000)
    assertPolicyHeld(f, [0, 1, 2, 3], 'redis takeTokens, 2 instances x 2 workers')
    // The compare-and-set path writes `rlb:` values into the store's hash: none were written.
    for (const s of stores) assert.equal((await s.list('rlb:')).size, 0)
    // Idle buckets expire: once full again the key is gone (the limiters' last give-backs may still
    // arrive and push the expiry out by up to one refill, hence a deadline rather than a fixed sleep).
    const key = 'lb:tb:rlb:lua:client'
    assert.equal(await client.exists(key), 1, 'the bucket lives in its own key')
    const deadline = performance.now() + 3_000
    while ((await client.exists(key)) !== 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(await client.exists(key), 0)
  })

  await t.test('Redis killed: each instance falls back to its own bucket and keeps limiting', async () => {
    const limiters = primaries.map((p) => make(p, 'down'))
    all.push(...limiters)
    await redis.kill('SIGKILL')
    const deadline = Date.now() + 3_000
    while (stores.some((s) => s.health() === 'up') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    const f = await realFlood(limiters, 1_000)
    // Each instance holds the policy on its own bucket: together up to twice the global rate, never unlimited.
    for (const i of f.counts.keys()) assertPolicyHeld(f, [i], `redis down, instance ${i} alone (per instance ${f.counts.join(', ')})`)
    assert.ok(primaries.every((p) => (p.storeSource?.fallbackCount ?? 0) > 0))
  })
})
