import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from '../config/index.js'
import { UpstreamPool } from './pool.js'
import { stickyTag } from './sticky.js'

async function stickyPool(sticky: unknown): Promise<UpstreamPool> {
  const config = await loadConfig({
    inline: { pools: { web: { backends: ['a', 'b', 'c'].map((id, i) => ({ id, url: `http://127.0.0.1:${4001 + i}` })), healthCheck: { enabled: false }, stickySession: sticky } } },
    env: {},
  })
  return new UpstreamPool(config.pools.web as NonNullable<typeof config.pools.web>)
}

/** Acquires with `pin` and ends the lease at once; the endpoint id, or undefined. */
function pickWith(pool: UpstreamPool, pin: string | undefined, exclude?: ReadonlySet<string>): string | undefined {
  const lease = pool.acquire({ keyOf: () => pin, exclude })
  if (lease === undefined) return undefined
  lease.end('success')
  return lease.endpoint.id
}

test('stickyTag: opaque, stable, different per endpoint, pool and secret', () => {
  const secret = 'a-secret-of-16-chars+'
  const tag = stickyTag(secret, 'web', '127.0.0.1:4001')
  assert.match(tag, /^[A-Za-z0-9_-]{22}$/)
  assert.equal(stickyTag(secret, 'web', '127.0.0.1:4001'), tag)
  assert.notEqual(stickyTag(secret, 'web', '127.0.0.1:4002'), tag)
  assert.notEqual(stickyTag(secret, 'api', '127.0.0.1:4001'), tag)
  assert.notEqual(stickyTag(`${secret}x`, 'web', '127.0.0.1:4001'), tag)
})

test('pool pin: kept while usable; unhealthy, ejected, excluded or removed -> the algorithm picks; drained keeps its sessions only', async (t) => {
  const pool = await stickyPool({ secret: 'a-secret-of-16-chars+' })
  t.after(() => pool.close())
  const tagB = pool.stickyTag('b') as string
  assert.equal(tagB, stickyTag('a-secret-of-16-chars+', 'web', 'b'))
  for (let i = 0; i < 20; i++) assert.equal(pickWith(pool, tagB), 'b')
  assert.notEqual(pickWith(pool, tagB, new Set(['b'])), 'b', 'a retry never goes back to the pinned endpoint it left')
  pool.setHealthy('b', false)
  for (let i = 0; i < 10; i++) assert.notEqual(pickWith(pool, tagB), 'b')
  pool.setHealthy('b', true)
  pool.setEjected('b', true)
  for (let i = 0; i < 10; i++) assert.notEqual(pickWith(pool, tagB), 'b')
  pool.setEjected('b', false)
  pool.setDrained('b', true)
  for (let i = 0; i < 10; i++) {
    assert.equal(pickWith(pool, tagB), 'b', 'a drained endpoint keeps its sessions')
    assert.notEqual(pickWith(pool, undefined), 'b', 'and takes no new ones')
    assert.notEqual(pickWith(pool, 'not-a-tag'), 'b')
  }
  pool.removeEndpoint('b')
  assert.equal(pool.stickyTag('b'), undefined)
  for (let i = 0; i < 10; i++) assert.notEqual(pickWith(pool, tagB), 'b')
})

test('header stickiness hashes the key over the ready endpoints whatever the algorithm; no cookie tags', async (t) => {
  const pool = await stickyPool({ header: 'X-Session' })
  t.after(() => pool.close())
  assert.equal(pool.stickyTag('a'), undefined)
  const owners = new Set<string>()
  for (let k = 0; k < 30; k++) {
    const first = pool.acquire({ keyOf: () => `user-${k}` })
    assert.ok(first !== undefined)
    first.end('success')
    for (let i = 0; i < 5; i++) {
      const again = pool.acquire({ keyOf: () => `user-${k}` })
      assert.equal(again?.endpoint.id, first.endpoint.id)
      again?.end('success')
    }
    owners.add(first.endpoint.id)
  }
  assert.equal(owners.size, 3)
})

test('acquire asks the request only for the keys the pool uses, and names the sticky tag to set only for a new or moved session', async (t) => {
  const plain = await stickyPool(undefined)
  t.after(() => plain.close())
  const asked: string[] = []
  const keyOf = (source: { kind: string; name?: string }): string | undefined => {
    asked.push(`${source.kind}:${source.name ?? ''}`)
    return undefined
  }
  plain.acquire({ keyOf })?.end('success')
  assert.deepEqual(asked, [], 'round robin without stickiness reads no key')

  const cookie = await stickyPool({ secret: 'a-secret-of-16-chars+' })
  t.after(() => cookie.close())
  const fresh = cookie.acquire({ keyOf })
  assert.deepEqual(asked, ['cookie:lb_sticky'])
  assert.equal(fresh?.stickyTag, cookie.stickyTag(fresh?.endpoint.id ?? ''), 'no cookie: the tag to set')
  fresh?.end('success')
  const tagA = cookie.stickyTag('a') as string
  const kept = cookie.acquire({ keyOf: () => tagA })
  assert.equal(kept?.endpoint.id, 'a')
  assert.equal(kept?.stickyTag, undefined, 'the cookie already names it')
  kept?.end('success')

  const header = await stickyPool({ header: 'X-Session' })
  t.after(() => header.close())
  asked.length = 0
  const h = header.acquire({ keyOf })
  assert.deepEqual(asked, ['header:x-session'])
  assert.equal(h?.stickyTag, undefined, 'header stickiness sets no cookie')
  h?.end('success')
})
