import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { seededRandom } from '../core/index.js'
import type { Endpoint } from '../core/index.js'
import { ConsistentHashBalancer, hash32 } from './index.js'
import { FakeLoad, countPicks, endpoint } from './balancer.suite.js'

const KEYS = Array.from({ length: 10_000 }, (_, i) => `198.51.${(i >> 8) & 255}.${i & 255}`)
const FIVE = ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080', '10.0.0.4:8080', '10.0.0.5:8080']

function ring(ready: readonly Endpoint[], load = new FakeLoad(), hashLoadFactor?: number): ConsistentHashBalancer {
  const balancer = new ConsistentHashBalancer(load, seededRandom(31), { hashLoadFactor })
  balancer.reset(ready)
  return balancer
}
function owners(balancer: ConsistentHashBalancer): string[] {
  return KEYS.map((hashKey) => balancer.pick({ hashKey })?.id ?? '')
}

describe('hash32', () => {
  it('is deterministic, unsigned 32-bit, and spreads near-identical inputs', () => {
    assert.equal(hash32('a#1'), hash32('a#1'))
    assert.notEqual(hash32('a#1'), hash32('a#2'))
    const high = new Set(['a#0', 'a#1', 'a#2', 'a#3', 'a#4', 'a#5', 'a#6', 'a#7'].map((s) => hash32(s) >>> 29))
    assert.ok(high.size >= 4, 'top bits differ for consecutive suffixes')
    for (const s of ['', 'x', 'é€😀']) assert.ok(Number.isInteger(hash32(s)) && hash32(s) >= 0 && hash32(s) < 2 ** 32)
  })
})

describe('ConsistentHashBalancer', () => {
  it('sends the same key to the same endpoint, also from another instance with the set in another order', () => {
    const ready = FIVE.map((id) => endpoint(id))
    const a = ring(ready)
    const b = ring([...ready].reverse())
    for (const hashKey of KEYS.slice(0, 1_000)) {
      const first = a.pick({ hashKey })
      assert.equal(a.pick({ hashKey }), first)
      assert.equal(b.pick({ hashKey })?.id, first?.id)
    }
  })

  it('10 000 keys over 4 equal endpoints -> 25% +/- 5% each (160 ring points per endpoint)', () => {
    const balancer = ring(['a', 'b', 'c', 'd'].map((id) => endpoint(id)))
    const counts = countPicks(balancer, KEYS.length, (i) => ({ hashKey: KEYS[i] }))
    for (const id of ['a', 'b', 'c', 'd']) assert.ok(Math.abs((counts.get(id) ?? 0) / KEYS.length - 0.25) < 0.05, `${id}: ${counts.get(id)}`)
  })

  it('10 000 keys, weights 3:1 -> 75% +/- 5% (ring points proportional to weight)', () => {
    const balancer = ring([endpoint('a', 3), endpoint('b', 1)])
    const counts = countPicks(balancer, KEYS.length, (i) => ({ hashKey: KEYS[i] }))
    assert.ok(Math.abs((counts.get('a') ?? 0) / KEYS.length - 0.75) < 0.05, `a: ${counts.get('a')}`)
  })

  it('removing 1 of 5 endpoints moves 10%..30% of 10 000 keys, and only the keys it owned', () => {
    const before = owners(ring(FIVE.map((id) => endpoint(id))))
    const removed = FIVE[2]
    const after = owners(ring(FIVE.filter((id) => id !== removed).map((id) => endpoint(id))))
    let moved = 0
    before.forEach((id, i) => {
      if (id !== after[i]) moved++
      if (id !== removed) assert.equal(after[i], id, `key ${KEYS[i]} moved although ${id} survived`)
    })
    assert.ok(moved / KEYS.length > 0.1 && moved / KEYS.length < 0.3, `moved ${moved}`)
  })

  it('adding a 6th endpoint moves ~1/6 (8%..25%) of 10 000 keys, all of them to the new endpoint', () => {
    const before = owners(ring(FIVE.map((id) => endpoint(id))))
    const after = owners(ring([...FIVE, '10.0.0.6:8080'].map((id) => endpoint(id))))
    let moved = 0
    before.forEach((id, i) => {
      if (id === after[i]) return
      moved++
      assert.equal(after[i], '10.0.0.6:8080')
    })
    assert.ok(moved / KEYS.length > 0.08 && moved / KEYS.length < 0.25, `moved ${moved}`)
  })

  it('bounded load: a hot key leaves its endpoint once it reaches ceil(1.25 * (total + 1) / n), and returns after', () => {
    const load = new FakeLoad()
    const balancer = ring(['a', 'b', 'c', 'd'].map((id) => endpoint(id)), load)
    const home = balancer.pick({ hashKey: 'hot' })?.id ?? ''
    load.add(home, 1) // total 1: bound ceil(1.25 * 2 / 4) = 1, so home (1 in flight) is full
    const elsewhere = balancer.pick({ hashKey: 'hot' })?.id
    assert.ok(elsewhere !== undefined && elsewhere !== home)
    assert.equal(balancer.pick({ hashKey: 'hot' })?.id, elsewhere, 'the overflow target is deterministic too')
    for (const id of ['a', 'b', 'c', 'd']) if (id !== home) load.add(id, 1) // total 4: bound ceil(1.25 * 5 / 4) = 2
    assert.equal(balancer.pick({ hashKey: 'hot' })?.id, home, 'under the bound again: back home')
    load.add(home, 10)
    assert.notEqual(balancer.pick({ hashKey: 'hot' })?.id, home)
  })

  it('bounded load: 1 000 requests of one hot key never put more than ceil(1.25 * total / n) on an endpoint', () => {
    const load = new FakeLoad()
    const ids = ['a', 'b', 'c', 'd']
    const balancer = ring(ids.map((id) => endpoint(id)), load)
    for (let total = 0; total < 1_000; total++) {
      const id = balancer.pick({ hashKey: 'hot' })?.id ?? ''
      assert.ok(load.inFlight(id) < Math.ceil((1.25 * (total + 1)) / ids.length), `pick ${total} overloads ${id}`)
      load.add(id)
    }
    for (const id of ids) assert.ok(load.inFlight(id) <= Math.ceil(1.25 * 250))
  })

  it('with hashLoadFactor Infinity, a hot key stays home whatever its load', () => {
    const load = new FakeLoad()
    const balancer = ring(FIVE.map((id) => endpoint(id)), load, Infinity)
    const home = balancer.pick({ hashKey: 'hot' })?.id ?? ''
    load.add(home, 1_000)
    assert.equal(balancer.pick({ hashKey: 'hot' })?.id, home)
  })

  it('an excluded home endpoint sends the key to the next one clockwise, the same every time', () => {
    const balancer = ring(FIVE.map((id) => endpoint(id)))
    const home = balancer.pick({ hashKey: 'k' })?.id ?? ''
    const exclude = new Set([home])
    const next = balancer.pick({ hashKey: 'k', exclude })?.id
    assert.ok(next !== undefined && next !== home)
    for (let i = 0; i < 10; i++) assert.equal(balancer.pick({ hashKey: 'k', exclude })?.id, next)
  })

  it('without a key, picks weighted random: weights 3:1 -> 75% +/- 2% over 20 000 picks', () => {
    const balancer = ring([endpoint('a', 3), endpoint('b', 1)])
    const counts = countPicks(balancer, 20_000, (i) => ({ hashKey: i % 2 === 0 ? undefined : '' }))
    assert.ok(Math.abs((counts.get('a') ?? 0) / 20_000 - 0.75) < 0.02, `a: ${counts.get('a')}`)
  })
})
