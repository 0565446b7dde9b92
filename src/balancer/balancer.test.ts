import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { LbError, seededRandom } from '../core/index.js'
import { ALGORITHMS, balancerFactories, createBalancer } from './index.js'
import { FakeLoad, endpoint, runBalancerConformance } from './balancer.suite.js'

// Every configured algorithm, through the registry: a new id in ALGORITHMS cannot skip the suite.
for (const algorithm of ALGORITHMS) {
  runBalancerConformance(algorithm, (load, random) => createBalancer(algorithm, load, random))
}
runBalancerConformance('consistent-hash (unbounded)', (load, random) =>
  createBalancer('consistent-hash', load, random, { hashLoadFactor: Infinity }),
)

describe('balancer registry', () => {
  it('has exactly one factory per id in ALGORITHMS', () => {
    assert.deepEqual(Object.keys(balancerFactories).sort(), [...ALGORITHMS].sort())
  })

  it('rejects an unknown algorithm and a hashLoadFactor below 1 with LB_ERR_CONFIG', () => {
    const load = new FakeLoad()
    const random = seededRandom(1)
    // @ts-expect-error: an id the type system already refuses, as a config typo would be
    assert.throws(() => createBalancer('fastest', load, random), (err) => err instanceof LbError && err.code === 'LB_ERR_CONFIG')
    for (const hashLoadFactor of [0.5, Number.NaN]) {
      assert.throws(
        () => createBalancer('consistent-hash', load, random, { hashLoadFactor }),
        (err) => err instanceof LbError && err.code === 'LB_ERR_CONFIG',
      )
    }
  })

  it('passes hashLoadFactor through to consistent-hash', () => {
    const load = new FakeLoad()
    const ready = [endpoint('a'), endpoint('b'), endpoint('c'), endpoint('d')]
    const unbounded = createBalancer('consistent-hash', load, seededRandom(1), { hashLoadFactor: Infinity })
    unbounded.reset(ready)
    const owner = unbounded.pick({ hashKey: 'hot' })?.id ?? ''
    load.add(owner, 100)
    assert.equal(unbounded.pick({ hashKey: 'hot' })?.id, owner)
    const bounded = createBalancer('consistent-hash', load, seededRandom(1))
    bounded.reset(ready)
    assert.notEqual(bounded.pick({ hashKey: 'hot' })?.id, owner)
  })
})
