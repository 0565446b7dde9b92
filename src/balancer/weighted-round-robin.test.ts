import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { WeightedRoundRobinBalancer } from './index.js'
import { countPicks, endpoint } from './balancer.suite.js'

describe('WeightedRoundRobinBalancer', () => {
  it('weights 5,1,1 give exactly a a b a c a a, repeating (nginx smooth WRR)', () => {
    const balancer = new WeightedRoundRobinBalancer()
    balancer.reset([endpoint('a', 5), endpoint('b', 1), endpoint('c', 1)])
    const ids = Array.from({ length: 21 }, () => balancer.pick({})?.id).join(' ')
    assert.equal(ids, 'a a b a c a a a a b a c a a a a b a c a a')
  })

  it('weights 3:1 -> 75% +/- 0.01% over 10 000 picks (exact per cycle)', () => {
    const balancer = new WeightedRoundRobinBalancer()
    balancer.reset([endpoint('a', 3), endpoint('b', 1)])
    const counts = countPicks(balancer, 10_000)
    assert.equal(counts.get('a'), 7_500)
    assert.equal(counts.get('b'), 2_500)
  })

  it('weights 1:2:7 -> 10% / 20% / 70% exactly over 10 000 picks, never more than 2 b in a row', () => {
    const balancer = new WeightedRoundRobinBalancer()
    balancer.reset([endpoint('a', 1), endpoint('b', 2), endpoint('c', 7)])
    const counts = countPicks(balancer, 10_000)
    assert.deepEqual([counts.get('a'), counts.get('b'), counts.get('c')], [1_000, 2_000, 7_000])
    let run = 0
    for (let i = 0; i < 1_000; i++) {
      run = balancer.pick({})?.id === 'b' ? run + 1 : 0
      assert.ok(run <= 1, 'b is spread out, never picked twice in a row')
    }
  })

  it('fractional weights 0.5:1.5 -> 25% / 75% exactly', () => {
    const balancer = new WeightedRoundRobinBalancer()
    balancer.reset([endpoint('a', 0.5), endpoint('b', 1.5)])
    const counts = countPicks(balancer, 10_000)
    assert.deepEqual([counts.get('a'), counts.get('b')], [2_500, 7_500])
  })

  it('an excluded endpoint sits the pick out; the others keep their proportions (5:1 -> 5/6 +/- 0.1%)', () => {
    const balancer = new WeightedRoundRobinBalancer()
    balancer.reset([endpoint('a', 5), endpoint('b', 1), endpoint('c', 1)])
    const exclude = new Set(['c'])
    const counts = countPicks(balancer, 12_000, () => ({ exclude }))
    assert.equal(counts.get('c'), undefined)
    assert.ok(Math.abs((counts.get('a') ?? 0) / 12_000 - 5 / 6) < 0.001)
  })
})
