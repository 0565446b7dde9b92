import { after, before } from 'node:test'
import { startRedis, type RedisHandle } from '../../test/helpers/redis.js'
import { MemoryStore } from './memory-store.js'
import { RedisStore } from './redis-store.js'
import { runStoreConformance } from './store.suite.js'

const memory = new MemoryStore()
runStoreConformance('memory', () => memory.attach())

let redis: RedisHandle | undefined
before(async () => {
  redis = await startRedis()
})
after(async () => {
  await redis?.stop()
})
runStoreConformance('redis standalone', () => new RedisStore({ url: (redis as RedisHandle).url, keyPrefix: 'conf:' }))
