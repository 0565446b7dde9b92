import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { seededRandom } from '../core/index.js'
import { EwmaBalancer } from './index.js'
import { FakeLoad, countPicks, endpoint } from './balancer.suite.js'

const ids = ['a', 'b', 'c', 'd']

describe('EwmaBalancer', () => {
  it('equal latency, idle pool, 4 endpoints -> 25% +/- 2% each over 20 000 picks', () => {
    const balancer = new EwmaBalancer(new FakeLoad(), seededRandom(21))
    balancer.reset(ids.map((id) => endpoint(id)))
    const counts = countPicks(balancer, 20_000)
    for (const id of ids) assert.ok(Math.abs((counts.get(id) ?? 0) / 20_000 - 0.25) < 0.02, `${id}: ${counts.get(id)}`)
  })

  it('steers away from a slow endpoint: 100 ms among 10 ms peers is never picked', () => {
    const load = new FakeLoad()
    load.ewmaById.set('b', 100)
    const balancer = new EwmaBalancer(load, seededRandom(22))
    balancer.reset([endpoint('a'), endpoint('b'), endpoint('c')])
    assert.equal(countPicks(balancer, 2_000).get('b'), undefined)
  })

  it('weighs latency by the queue: 10 ms with 9 in flight (cost 100) loses to 50 ms idle (cost 50)', () => {
    const load = new FakeLoad()
    load.ewmaById.set('fast', 10)
    load.add('fast', 9)
    load.ewmaById.set('slow', 50)
    const balancer = new EwmaBalancer(load, seededRandom(23))
    balancer.reset([endpoint('fast'), endpoint('slow')])
    for (let i = 0; i < 100; i++) assert.equal(balancer.pick({})?.id, 'slow')
  })

  it('divides the cost by weight: equal latency and load, weight 2 beats weight 1', () => {
    const load = new FakeLoad()
    load.add('heavy', 1)
    load.add('light', 1)
    const balancer = new EwmaBalancer(load, seededRandom(24))
    balancer.reset([endpoint('heavy', 2), endpoint('light', 1)])
    for (let i = 0; i < 100; i++) assert.equal(balancer.pick({})?.id, 'heavy')
  })

  it('latency 10 ms vs 30 ms, requests that never finish -> 75% +/- 1% to the fast one after 10 000 picks', () => {
    const load = new FakeLoad()
    load.ewmaById.set('fast', 10)
    load.ewmaById.set('slow', 30)
    const balancer = new EwmaBalancer(load, seededRandom(25))
    balancer.reset([endpoint('fast'), endpoint('slow')])
    for (let i = 0; i < 10_000; i++) load.add(balancer.pick({})?.id ?? '')
    assert.ok(Math.abs(load.inFlight('fast') / 10_000 - 0.75) < 0.01, `fast: ${load.inFlight('fast')}`)
  })

  it('still tells endpoints apart by in-flight count when both report 0 ms', () => {
    const load = new FakeLoad()
    load.ewmaById.set('a', 0)
    load.ewmaById.set('b', 0)
    load.add('a', 3)
    const balancer = new EwmaBalancer(load, seededRandom(26))
    balancer.reset([endpoint('a'), endpoint('b')])
    for (let i = 0; i < 100; i++) assert.equal(balancer.pick({})?.id, 'b')
  })
})
