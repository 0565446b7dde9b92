import assert from 'node:assert/strict'
import { test } from 'node:test'
import { seededRandom } from '../core/index.js'
import { MemoryStore } from './memory-store.js'
import { SequenceLeaser } from './sequence.js'
import { FlakyStore } from './store.suite.js'

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

test('workers leasing blocks of one sequence spread 12 000 picks evenly over 3 endpoints', async () => {
  const root = new MemoryStore()
  const workers = Array.from({ length: 4 }, () => new SequenceLeaser({ store: root.attach(), key: 'rr:pool', blockSize: 100 }))
  await Promise.all(workers.map((w) => w.start()))
  const random = seededRandom(7)
  const counts = [0, 0, 0]
  const seen = new Set<number>()
  let local = 0
  for (let i = 0; i < 12_000; i++) {
    const w = workers[Math.floor(random() * workers.length)] as SequenceLeaser
    const n = w.next() as number
    if (!w.isGlobal) local++
    else {
      assert.equal(seen.has(n), false, `number ${n} handed out twice`)
      seen.add(n)
    }
    counts[n % 3] = (counts[n % 3] ?? 0) + 1
    if (i % 10 === 0) await tick() // let prefetches land, as a server's event loop would
  }
  assert.equal(local, 0, 'prefetch kept every worker supplied')
  for (const c of counts) assert.ok(Math.abs(c - 4_000) <= workers.length * 2, `even: ${counts.join(',')}`)
})

test('leases ahead of need: one store call per block, the next one requested at half a block', async () => {
  const flaky = new FlakyStore(new MemoryStore())
  const w = new SequenceLeaser({ store: flaky, key: 'rr', blockSize: 10 })
  await w.start()
  assert.equal(flaky.calls.get('incrementBy'), 1)
  for (let i = 0; i < 4; i++) assert.equal(w.next(), i)
  assert.equal(flaky.calls.get('incrementBy'), 1)
  w.next() // 5 left: prefetch
  assert.equal(flaky.calls.get('incrementBy'), 2)
  await tick()
  for (let i = 5; i < 20; i++) assert.equal(w.next(), i)
  assert.ok(w.isGlobal)
})

test('store down: continues locally from the last number and retries at most once per retryDelayMs', async () => {
  let now = 0
  const flaky = new FlakyStore(new MemoryStore())
  const w = new SequenceLeaser({ store: flaky, key: 'rr', blockSize: 4, retryDelayMs: 1_000, clock: { now: () => now } })
  await w.start()
  flaky.setDown(true)
  const got: number[] = []
  for (let i = 0; i < 10; i++) {
    got.push(w.next() as number)
    await tick()
  }
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  assert.equal(w.isGlobal, false)
  const calls = flaky.calls.get('incrementBy') ?? 0
  assert.ok(calls <= 3, `not one call per request: ${calls}`)
  flaky.setDown(false)
  now += 1_000
  w.next()
  await tick()
  assert.equal(w.next(), 4, 'a block leased again (the store counter is at 4)')
  assert.ok(w.isGlobal)
  w.close()
  assert.equal(w.next(), undefined)
})
