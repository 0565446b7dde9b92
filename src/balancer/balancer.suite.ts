/**
 * The conformance suite every balancer passes (STYLE section 7): the edges of the `Balancer` contract
 * in `core/types.ts`, independent of how an algorithm spreads load. `balancer.test.ts` runs it for
 * every id in `ALGORITHMS`. Also exports the test helpers shared by the per-algorithm tests.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Balancer, Endpoint, EndpointLoad } from '../core/index.js'
import { seededRandom } from '../core/index.js'

/** An endpoint for tests: `id` is `host:port` or a bare host (port 80); weight defaults to 1. */
export function endpoint(id: string, weight = 1): Endpoint {
  return { id, url: new URL(id.includes(':') ? `http://${id}` : `http://${id}:80`), weight, backup: false }
}

/** An `EndpointLoad` whose values tests set directly (default 0 in flight, 10 ms). */
export class FakeLoad implements EndpointLoad {
  readonly inFlightById = new Map<string, number>()
  readonly ewmaById = new Map<string, number>()
  inFlight(id: string): number {
    return this.inFlightById.get(id) ?? 0
  }
  ewmaMs(id: string): number {
    return this.ewmaById.get(id) ?? 10
  }
  /** Adds `n` (default 1) to the in-flight count of `id`. */
  add(id: string, n = 1): void {
    this.inFlightById.set(id, this.inFlight(id) + n)
  }
}

/** Counts picks per endpoint id over `picks` calls; `undefined` results are counted under ''. */
export function countPicks(balancer: Balancer, picks: number, next: (i: number) => Parameters<Balancer['pick']>[0] = () => ({})): Map<string, number> {
  const counts = new Map<string, number>()
  for (let i = 0; i < picks; i++) {
    const id = balancer.pick(next(i))?.id ?? ''
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return counts
}

/** Builds a balancer for the suite. */
export type MakeBalancer = (load: EndpointLoad, random: () => number) => Balancer

const CONTEXTS = [
  { label: 'without hashKey', key: (_i: number): string | undefined => undefined },
  { label: 'with a fixed hashKey', key: (_i: number): string | undefined => 'client-1' },
  { label: 'with varying hashKeys', key: (i: number): string | undefined => `10.0.${i % 256}.${i % 7}` },
]

/** Registers the conformance tests for one balancer under `describe(name)`. */
export function runBalancerConformance(name: string, make: MakeBalancer): void {
  const build = (ready: readonly Endpoint[], load: EndpointLoad = new FakeLoad()): Balancer => {
    const balancer = make(load, seededRandom(42))
    balancer.reset(ready)
    return balancer
  }

  describe(`${name} (conformance)`, () => {
    it('returns undefined before any reset and after reset([])', () => {
      const fresh = make(new FakeLoad(), seededRandom(1))
      assert.equal(fresh.pick({}), undefined)
      assert.equal(fresh.pick({ hashKey: 'k' }), undefined)
      assert.equal(build([]).pick({}), undefined)
      assert.equal(build([]).pick({ hashKey: 'k', exclude: new Set(['x']) }), undefined)
    })

    for (const { label, key } of CONTEXTS) {
      it(`returns the only endpoint, the very same object, on every pick (${label})`, () => {
        const only = endpoint('a', 3)
        const balancer = build([only])
        for (let i = 0; i < 100; i++) assert.equal(balancer.pick({ hashKey: key(i) }), only)
      })

      it(`never returns an excluded endpoint over 1000 picks (${label})`, () => {
        const load = new FakeLoad()
        const balancer = build([endpoint('a'), endpoint('b', 2), endpoint('c', 5)], load)
        const exclude = new Set(['c'])
        for (let i = 0; i < 1000; i++) {
          const picked = balancer.pick({ hashKey: key(i), exclude })
          assert.ok(picked !== undefined && picked.id !== 'c', `pick ${i} returned ${picked?.id}`)
          load.add(picked.id, i % 3 === 0 ? 1 : 0) // uneven load must not matter
        }
        const two = new Set(['a', 'c'])
        for (let i = 0; i < 100; i++) assert.equal(balancer.pick({ hashKey: key(i), exclude: two })?.id, 'b')
      })

      it(`returns undefined when every endpoint is excluded (${label})`, () => {
        assert.equal(build([endpoint('a')]).pick({ hashKey: key(0), exclude: new Set(['a']) }), undefined)
        const all = new Set(['a', 'b', 'c'])
        const balancer = build([endpoint('a'), endpoint('b'), endpoint('c')])
        for (let i = 0; i < 10; i++) assert.equal(balancer.pick({ hashKey: key(i), exclude: all }), undefined)
      })

      it(`never picks a zero-weight endpoint, and none when all weigh 0 (${label})`, () => {
        const balancer = build([endpoint('zero', 0), endpoint('a'), endpoint('neg', -1), endpoint('b', 2)])
        for (let i = 0; i < 1000; i++) {
          const id = balancer.pick({ hashKey: key(i) })?.id
          assert.ok(id === 'a' || id === 'b', `pick ${i} returned ${id}`)
        }
        const none = build([endpoint('x', 0), endpoint('y', 0)])
        for (let i = 0; i < 10; i++) assert.equal(none.pick({ hashKey: key(i) }), undefined)
      })

      it(`reset() replaces the set: old ids are never returned; reset([]) empties it (${label})`, () => {
        const balancer = build([endpoint('old1'), endpoint('old2', 4), endpoint('old3')])
        for (let i = 0; i < 10; i++) balancer.pick({ hashKey: key(i) })
        balancer.reset([endpoint('new1'), endpoint('new2', 2)])
        for (let i = 0; i < 1000; i++) {
          const id = balancer.pick({ hashKey: key(i) })?.id
          assert.ok(id === 'new1' || id === 'new2', `pick ${i} returned ${id}`)
        }
        balancer.reset([])
        assert.equal(balancer.pick({ hashKey: key(0) }), undefined)
      })
    }

    it('spreads: every endpoint is picked at least once over 1000 idle picks without a key', () => {
      const balancer = build([endpoint('a'), endpoint('b'), endpoint('c'), endpoint('d')])
      const counts = countPicks(balancer, 1000)
      assert.deepEqual([...counts.keys()].sort(), ['a', 'b', 'c', 'd'])
    })

    it('treats an empty exclude set like no exclude set', () => {
      const balancer = build([endpoint('a'), endpoint('b')])
      for (let i = 0; i < 100; i++) assert.notEqual(balancer.pick({ exclude: new Set() }), undefined)
    })
  })
}
