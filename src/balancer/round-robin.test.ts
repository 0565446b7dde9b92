import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RoundRobinBalancer } from './index.js'
import { countPicks, endpoint } from './balancer.suite.js'

describe('RoundRobinBalancer', () => {
  it('rotates a b c a b c in order', () => {
    const balancer = new RoundRobinBalancer()
    balancer.reset([endpoint('a'), endpoint('b'), endpoint('c')])
    const ids = Array.from({ length: 6 }, () => balancer.pick({})?.id)
    assert.deepEqual(ids, ['a', 'b', 'c', 'a', 'b', 'c'])
  })

  it('weights 3:1:1 are ignored -> 33.3% each +/- 0.01% over 30 000 picks', () => {
    const balancer = new RoundRobinBalancer()
    balancer.reset([endpoint('a', 3), endpoint('b'), endpoint('c')])
    const counts = countPicks(balancer, 30_000)
    for (const id of ['a', 'b', 'c']) assert.equal(counts.get(id), 10_000)
  })

  it('skips an excluded endpoint and carries on after it', () => {
    const balancer = new RoundRobinBalancer()
    balancer.reset([endpoint('a'), endpoint('b'), endpoint('c')])
    assert.equal(balancer.pick({})?.id, 'a')
    assert.equal(balancer.pick({ exclude: new Set(['b']) })?.id, 'c')
    assert.equal(balancer.pick({})?.id, 'a')
  })

  it('keeps its position across reset() instead of restarting at the first endpoint', () => {
    const balancer = new RoundRobinBalancer()
    balancer.reset([endpoint('a'), endpoint('b'), endpoint('c')])
    balancer.pick({})
    balancer.reset([endpoint('a'), endpoint('b'), endpoint('c', 2)])
    assert.equal(balancer.pick({})?.id, 'b')
  })
})

describe('round-robin with a shared sequence (global round robin)', () => {
  it('number s goes to ready[s % n], and an undefined number falls back to local rotation', () => {
    const numbers = [7, 8, 9, undefined, 10]
    let i = 0
    const b = new RoundRobinBalancer(() => numbers[i++])
    b.reset([endpoint('a'), endpoint('b'), endpoint('c')])
    const picks = numbers.map(() => b.pick({})?.id)
    assert.deepEqual(picks, ['b', 'c', 'a', 'a', 'b'])
  })
})
