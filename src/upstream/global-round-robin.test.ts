/**
 * Global round robin as the workers run it: each worker's RoundRobinBalancer draws its numbers from its own
 * SequenceLeaser, and the leasers lease blocks of one shared sequence from one store.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RoundRobinBalancer } from '../balancer/index.js'
import { MemoryStore, SequenceLeaser } from '../state/index.js'
import type { Endpoint } from '../core/index.js'

const endpoint = (id: string): Endpoint => ({ id, url: new URL(`http://${id}.test/`), weight: 1, backup: false })

test('two workers drawing interleaved blocks of one leased sequence split the load evenly', async () => {
  const store = new MemoryStore()
  // Blocks of 6 are whole rotations over 3 endpoints (as production's 840 is for up to 8).
  const leasers = [0, 1].map(() => new SequenceLeaser({ store, key: 'rr:main', blockSize: 6 }))
  await Promise.all(leasers.map((l) => l.start()))
  const drawn: number[] = []
  const workers = leasers.map((leaser) => {
    const b = new RoundRobinBalancer(() => {
      const n = leaser.next()
      assert.equal(leaser.isGlobal, true, 'every number comes from a leased block')
      if (n !== undefined) drawn.push(n)
      return n
    })
    b.reset([endpoint('a'), endpoint('b'), endpoint('c')])
    return b
  })
  const counts: Record<string, number> = {}
  for (let k = 0; k < 60; k++) {
    const id = (workers[k % 2] as RoundRobinBalancer).pick({})?.id ?? '?'
    counts[id] = (counts[id] ?? 0) + 1
    // Let a block lease that the pick started arrive, as the event loop does between requests.
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.deepEqual(counts, { a: 20, b: 20, c: 20 })
  // One shared sequence: no number was handed out twice.
  assert.equal(new Set(drawn).size, drawn.length)
  for (const l of leasers) l.close()
})
