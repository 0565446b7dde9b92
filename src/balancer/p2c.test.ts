import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { seededRandom } from '../core/index.js'
import { P2cBalancer } from './index.js'
import { FakeLoad, countPicks, endpoint } from './balancer.suite.js'

const ids = ['a', 'b', 'c', 'd']

describe('P2cBalancer', () => {
  it('idle pool, 4 equal endpoints -> 25% +/- 2% each over 20 000 picks', () => {
    const balancer = new P2cBalancer(new FakeLoad(), seededRandom(11))
    balancer.reset(ids.map((id) => endpoint(id)))
    const counts = countPicks(balancer, 20_000)
    for (const id of ids) assert.ok(Math.abs((counts.get(id) ?? 0) / 20_000 - 0.25) < 0.02, `${id}: ${counts.get(id)}`)
  })

  it('idle pool, d excluded -> 33.3% +/- 2% for each of a, b, c over 20 000 picks', () => {
    const balancer = new P2cBalancer(new FakeLoad(), seededRandom(12))
    balancer.reset(ids.map((id) => endpoint(id)))
    const exclude = new Set(['d'])
    const counts = countPicks(balancer, 20_000, () => ({ exclude }))
    assert.equal(counts.get('d'), undefined)
    for (const id of ['a', 'b', 'c']) assert.ok(Math.abs((counts.get(id) ?? 0) / 20_000 - 1 / 3) < 0.02, `${id}: ${counts.get(id)}`)
  })

  it('draws two DISTINCT endpoints: of two, the loaded one never wins (with and without exclude)', () => {
    const load = new FakeLoad()
    load.add('a', 1)
    const balancer = new P2cBalancer(load, seededRandom(13))
    balancer.reset([endpoint('a'), endpoint('b')])
    assert.equal(countPicks(balancer, 1_000).get('a'), undefined)
    balancer.reset([endpoint('a'), endpoint('b'), endpoint('x')])
    const exclude = new Set(['x'])
    assert.equal(countPicks(balancer, 1_000, () => ({ exclude })).get('a'), undefined)
  })

  it('steers away from a loaded endpoint: the busiest of 4 is never picked', () => {
    const load = new FakeLoad()
    load.add('c', 10)
    load.add('a', 1)
    const balancer = new P2cBalancer(load, seededRandom(14))
    balancer.reset(ids.map((id) => endpoint(id)))
    const counts = countPicks(balancer, 5_000)
    assert.equal(counts.get('c'), undefined)
    assert.ok((counts.get('a') ?? 0) < (counts.get('b') ?? 0))
  })

  it('requests that never finish pile up by weight 3:1 -> in flight 75% +/- 1% after 10 000 picks', () => {
    const load = new FakeLoad()
    const balancer = new P2cBalancer(load, seededRandom(15))
    balancer.reset([endpoint('a', 3), endpoint('b', 1)])
    for (let i = 0; i < 10_000; i++) load.add(balancer.pick({})?.id ?? '')
    assert.ok(Math.abs(load.inFlight('a') / 10_000 - 0.75) < 0.01, `a: ${load.inFlight('a')}`)
  })

  it('with one candidate left, returns it without drawing', () => {
    let draws = 0
    const balancer = new P2cBalancer(new FakeLoad(), () => {
      draws++
      return 0.5
    })
    balancer.reset([endpoint('a'), endpoint('b'), endpoint('c')])
    assert.equal(balancer.pick({ exclude: new Set(['a', 'c']) })?.id, 'b')
    balancer.reset([endpoint('only')])
    assert.equal(balancer.pick({})?.id, 'only')
    assert.equal(draws, 0)
  })
})
