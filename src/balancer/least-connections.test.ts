import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { seededRandom } from '../core/index.js'
import { LeastConnectionsBalancer } from './index.js'
import { FakeLoad, countPicks, endpoint } from './balancer.suite.js'

describe('LeastConnectionsBalancer', () => {
  it('idle pool, weights 3:1 -> 75% +/- 2% over 20 000 picks (ties broken by weighted random)', () => {
    const balancer = new LeastConnectionsBalancer(new FakeLoad(), seededRandom(3))
    balancer.reset([endpoint('a', 3), endpoint('b', 1)])
    const counts = countPicks(balancer, 20_000)
    assert.ok(Math.abs((counts.get('a') ?? 0) / 20_000 - 0.75) < 0.02, `a: ${counts.get('a')}`)
  })

  it('idle pool, 4 equal endpoints -> 25% +/- 2% each over 20 000 picks (no positional bias)', () => {
    const balancer = new LeastConnectionsBalancer(new FakeLoad(), seededRandom(4))
    balancer.reset([endpoint('a'), endpoint('b'), endpoint('c'), endpoint('d')])
    const counts = countPicks(balancer, 20_000)
    for (const id of ['a', 'b', 'c', 'd']) assert.ok(Math.abs((counts.get(id) ?? 0) / 20_000 - 0.25) < 0.02, `${id}: ${counts.get(id)}`)
  })

  it('steers away from a loaded endpoint: never picks it while others have fewer in flight', () => {
    const load = new FakeLoad()
    load.add('a', 5)
    const balancer = new LeastConnectionsBalancer(load, seededRandom(5))
    balancer.reset([endpoint('a'), endpoint('b'), endpoint('c')])
    const counts = countPicks(balancer, 1_000)
    assert.equal(counts.get('a'), undefined)
  })

  it('compares in-flight per weight: 3 on weight 2 loses to 1 on weight 1 (1.5 > 1)', () => {
    const load = new FakeLoad()
    load.add('heavy', 3)
    load.add('light', 1)
    const balancer = new LeastConnectionsBalancer(load, seededRandom(6))
    balancer.reset([endpoint('heavy', 2), endpoint('light', 1)])
    for (let i = 0; i < 100; i++) assert.equal(balancer.pick({})?.id, 'light')
  })

  it('requests that never finish pile up by weight 3:1 -> in flight 75% +/- 0.1% after 10 000 picks', () => {
    const load = new FakeLoad()
    const balancer = new LeastConnectionsBalancer(load, seededRandom(7))
    balancer.reset([endpoint('a', 3), endpoint('b', 1)])
    for (let i = 0; i < 10_000; i++) load.add(balancer.pick({})?.id ?? '')
    assert.ok(Math.abs(load.inFlight('a') / 10_000 - 0.75) < 0.001, `a: ${load.inFlight('a')}`)
  })

  it('picks the least loaded among those not excluded', () => {
    const load = new FakeLoad()
    load.add('b', 2)
    load.add('c', 1)
    const balancer = new LeastConnectionsBalancer(load, seededRandom(8))
    balancer.reset([endpoint('a'), endpoint('b'), endpoint('c')])
    assert.equal(balancer.pick({ exclude: new Set(['a']) })?.id, 'c')
  })
})
