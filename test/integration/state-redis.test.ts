/**
 * The StateStore conformance suite on a real 3-master Redis Cluster and on a master watched by a Sentinel,
 * both started here on free ports (never the Redis on 6379).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { RedisStore, whenUp } from '../../src/state/index.js'
import { runStoreConformance } from '../../src/state/store.suite.js'
import { startRedisCluster, startRedisSentinel, type RedisHandle, type RedisSentinelHandle } from '../helpers/redis.js'

let cluster: RedisHandle | undefined
let sentinel: RedisSentinelHandle | undefined
before(async () => {
  ;[cluster, sentinel] = await Promise.all([startRedisCluster(), startRedisSentinel()])
})
after(async () => {
  await Promise.all([cluster?.stop(), sentinel?.stop()])
})

const clusterStore = (): RedisStore =>
  new RedisStore({ cluster: (cluster as RedisHandle).ports.map((port) => ({ host: '127.0.0.1', port })), keyPrefix: 'conf:' })
const sentinelStore = (): RedisStore => {
  const s = sentinel as RedisSentinelHandle
  return new RedisStore({ sentinels: [{ host: '127.0.0.1', port: s.sentinelPort }], sentinelName: s.name, keyPrefix: 'conf:' })
}

runStoreConformance('redis cluster', clusterStore)
runStoreConformance('redis sentinel', sentinelStore)

describe('redis cluster layout', () => {
  it('spreads counters and leases over the masters while values stay in one hash', async (t) => {
    const a = clusterStore()
    t.after(() => a.close())
    assert.equal(await whenUp(a), true)
    for (let i = 0; i < 30; i++) await a.incrementBy(`spread-${i}`, 1, 10_000)
    const h = cluster as RedisHandle
    const { redisCli } = await import('../helpers/redis.js')
    const sizes = await Promise.all(h.ports.map(async (p) => Number((await redisCli(['-p', String(p), 'dbsize'])).trim())))
    assert.equal(sizes.filter((n) => n > 0).length, 3, `keys on every master: ${sizes.join(',')}`)
  })
})
