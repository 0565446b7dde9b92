import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { startRedis } from '../../test/helpers/redis.js'
import { RedisStore, whenUp } from '../state/index.js'
import { StoreTokenSource } from './store-token-source.js'

test('real Redis: global rate-limit buckets are their own expiring keys, never fields of the values hash', async (t) => {
  const redis = await startRedis()
  t.after(() => redis.stop())
  const store = new RedisStore({ url: redis.url })
  t.after(() => store.close())
  assert.equal(await whenUp(store), true)
  const cli = new Redis(redis.url)
  t.after(() => cli.disconnect())
  // A generous per-call deadline: the 500 leases go out at once on a shared, busy machine.
  const source = new StoreTokenSource(store, { timeoutMs: 5000 })

  // 500 different client keys (one per IP, as a scan from many addresses would make).
  const requests = Array.from({ length: 500 }, (_, i) => ({ key: `10.0.${i >> 8}.${i & 255}`, want: 1, owed: 0, giveBack: 0 }))
  const grants = await source.lease({ route: 'api', scope: 'global', ratePerSecond: 2, burst: 10, requests })
  assert.equal(grants.length, 500)
  assert.ok(grants.every((g) => g.granted === 1 && g.remaining === 9))
  // Nothing in the hash the mirrors rescan; nothing listed to a watcher of the rate-limit prefix.
  assert.equal(await cli.hlen('lb:values'), 0)
  assert.equal((await store.list('rlb:')).size, 0)
  // Each bucket is a key with a TTL (the time to refill: 1 token at 2/s = 500 ms): it goes away by itself.
  const keys = await cli.keys('lb:tb:*')
  assert.equal(keys.length, 500)
  for (const k of keys.slice(0, 20)) {
    const ttl = await cli.pttl(k)
    assert.ok(ttl > 0 && ttl <= 500, `${k}: PTTL ${ttl}`)
  }
  const deadline = performance.now() + 3000
  while ((await cli.keys('lb:tb:*')).length > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  assert.deepEqual(await cli.keys('lb:tb:*'), [])
  assert.equal(await cli.hlen('lb:values'), 0)
})
