import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { seededRandom } from '../core/index.js'
import { RandomBalancer } from './index.js'
import { countPicks, endpoint } from './balancer.suite.js'

const share = (counts: Map<string, number>, id: string, total: number): number => (counts.get(id) ?? 0) / total

describe('RandomBalancer', () => {
  it('weights 3:1 -> 75% +/- 2% over 20 000 picks', () => {
    const balancer = new RandomBalancer(seededRandom(7))
    balancer.reset([endpoint('a', 3), endpoint('b', 1)])
    const counts = countPicks(balancer, 20_000)
    assert.ok(Math.abs(share(counts, 'a', 20_000) - 0.75) < 0.02, `a: ${counts.get('a')}`)
  })

  it('weights 1:2:7 -> 10% / 20% / 70% +/- 2% over 20 000 picks', () => {
    const balancer = new RandomBalancer(seededRandom(8))
    balancer.reset([endpoint('a', 1), endpoint('b', 2), endpoint('c', 7)])
    const counts = countPicks(balancer, 20_000)
    for (const [id, expected] of [['a', 0.1], ['b', 0.2], ['c', 0.7]] as const) {
      assert.ok(Math.abs(share(counts, id, 20_000) - expected) < 0.02, `${id}: ${counts.get(id)}`)
    }
  })

  it('with c excluded, weights 1:2 of the rest -> 33.3% / 66.7% +/- 2% over 20 000 picks', () => {
    const balancer = new RandomBalancer(seededRandom(9))
    balancer.reset([endpoint('a', 1), endpoint('b', 2), endpoint('c', 7)])
    const exclude = new Set(['c'])
    const counts = countPicks(balancer, 20_000, () => ({ exclude }))
    assert.equal(counts.get('c'), undefined)
    assert.ok(Math.abs(share(counts, 'a', 20_000) - 1 / 3) < 0.02, `a: ${counts.get('a')}`)
  })

  it('stays in range when random() returns values at the edges (0 and just below 1)', () => {
    for (const value of [0, 0.9999999999999999]) {
      const balancer = new RandomBalancer(() => value)
      balancer.reset([endpoint('a'), endpoint('b'), endpoint('c')])
      assert.equal(balancer.pick({})?.id, value === 0 ? 'a' : 'c')
      assert.equal(balancer.pick({ exclude: new Set(['a']) })?.id, value === 0 ? 'b' : 'c')
    }
  })
})
