import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryStore } from '../state/index.js'
import { InstanceStatsExchange } from './instance-stats.js'
import { decodeCumulative, emptyCumulative, encodeCumulative, type Cumulative } from './stats-totals.js'

/** Totals of one instance: `requests` 200s to p/a, `inFlight` requests in flight there. */
function totals(requests: number, inFlight = 0): Cumulative {
  const c = emptyCumulative()
  c.requests.set('p\u0000a', requests)
  c.codes.set('200', requests)
  c.inFlight.set('p\u0000a', inFlight)
  return c
}

const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0)

/** Lets the exchanges' store calls (promises, no timers) complete. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
}

/**
 * One second of two instances: `writer` publishes `w`, then `reader` publishes `r` and reads; each call's
 * store traffic completes before the next. Returns what the reader saw.
 */
async function tick(clock: { t: number }, writer: InstanceStatsExchange, w: Cumulative, reader: InstanceStatsExchange, r: Cumulative): Promise<ReturnType<InstanceStatsExchange['exchange']>> {
  clock.t += 1000
  writer.exchange(w)
  await settle()
  const seen = reader.exchange(r)
  await settle()
  return seen
}

function fleet(): { clock: { t: number }; store: MemoryStore; make: (id: string) => InstanceStatsExchange } {
  const clock = { t: 0 }
  const store = new MemoryStore({ clock: { now: () => clock.t } })
  return { clock, store, make: (id) => new InstanceStatsExchange({ store: store.attach(), instanceId: id, staleMs: 5_000, now: () => clock.t }) }
}

describe('InstanceStatsExchange', () => {
  it('alone, the totals are its own', async () => {
    const { make } = fleet()
    const a = make('a')
    const r = a.exchange(totals(10, 2))
    assert.equal(r.instances, 1)
    assert.equal(sum(r.totals.requests), 10)
    assert.equal(sum(r.totals.inFlight), 2)
    await settle()
    assert.equal(a.exchange(totals(12)).instances, 1)
  })

  it('adds up every instance once it has written twice; its earlier requests come as `joined`, not as a rate', async () => {
    const { clock, make } = fleet()
    const a = make('a')
    const b = make('b')
    const step = (na: number, nb: number): ReturnType<typeof tick> => tick(clock, b, totals(nb, 3), a, totals(na, 1))
    await step(10, 500) // b writes; a reads b for the first time after this tick's exchange
    const second = await step(20, 600) // b's second write; a counts b from the read that follows
    assert.equal(second.instances, 1)
    const third = await step(30, 700)
    assert.equal(third.instances, 2)
    assert.equal(sum(third.totals.requests), 30 + 600)
    assert.equal(sum(third.totals.inFlight), 1 + 3)
    assert.equal(sum(third.joined.requests), 600, 'what b had served before a counted it')
    const fourth = await step(40, 800)
    assert.equal(sum(fourth.totals.requests), 40 + 700)
    assert.equal(sum(fourth.joined.requests), 0)
  })

  it('an instance that stops keeps its counters in the totals, not its gauges, and frees its slot', async () => {
    const { clock, make } = fleet()
    const a = make('a')
    const b = make('b')
    for (let i = 1; i <= 3; i++) await tick(clock, b, totals(100 * i, 5), a, totals(i))
    assert.equal(a.exchange(totals(4)).instances, 2)
    await b.close()
    await settle()
    a.exchange(totals(5))
    await settle()
    const after = a.exchange(totals(6))
    assert.equal(after.instances, 1)
    assert.equal(sum(after.totals.requests), 6 + 300)
    assert.equal(sum(after.totals.inFlight), 0)
    // The next instance to start takes the freed slot (slot 1: a holds 0) and is counted as a new one.
    const c = make('c')
    for (let i = 1; i <= 2; i++) await tick(clock, c, totals(7 * i), a, totals(6))
    const withC = a.exchange(totals(6))
    assert.equal(withC.instances, 2)
    assert.equal(sum(withC.totals.requests), 6 + 300 + 14)
  })

  it('an instance that stops writing (crashed) no longer counts as live after staleMs; its counters stay', async () => {
    const { clock, make } = fleet()
    const a = make('a')
    const b = make('b')
    for (let i = 1; i <= 3; i++) await tick(clock, b, totals(50 * i, 4), a, totals(1))
    assert.equal(a.exchange(totals(1)).instances, 2)
    clock.t += 5_001
    const later = a.exchange(totals(2))
    assert.equal(later.instances, 1)
    assert.equal(sum(later.totals.requests), 2 + 150)
    assert.equal(sum(later.totals.inFlight), 0)
  })

  it('a slot a crashed instance left behind is never counted by an instance that starts later', async () => {
    const { clock, make } = fleet()
    const dead = make('dead')
    dead.exchange(totals(1000, 9))
    await settle()
    clock.t += 60_000 // its lease expired long ago
    const a = make('a')
    for (let i = 0; i < 3; i++) {
      clock.t += 1000
      a.exchange(totals(5))
      await settle()
    }
    const r = a.exchange(totals(5))
    assert.equal(r.instances, 1)
    assert.equal(sum(r.totals.requests), 5)
  })

  it('decodeCumulative keeps well-formed entries only', () => {
    const good = encodeCumulative(totals(3, 1))
    assert.deepEqual(decodeCumulative(JSON.parse(JSON.stringify(good))), totals(3, 1))
    assert.equal(decodeCumulative('x'), undefined)
    assert.equal(decodeCumulative(null), undefined)
    const bad = decodeCumulative({ requests: [['k', -1], ['ok', 2], [3, 4], 'x'], buckets: [['k', [1, 2]]], rateLimited: 'many' })
    assert.deepEqual([...(bad?.requests ?? [])], [['ok', 2]])
    assert.equal(bad?.buckets.size, 0)
    assert.equal(bad?.rateLimited, 0)
  })
})
