import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { StatsTracker, quantileMs } from './stats.js'
import { emptyCumulative, type Cumulative } from './stats-totals.js'
import { DURATION_BUCKETS_SECONDS } from './metrics.js'

function totals(requests: number): Cumulative {
  const c = emptyCumulative()
  c.requests.set('p\u0000a', requests)
  c.codes.set('200', requests)
  return c
}

const pools = [{ name: 'p', algorithm: 'round-robin', endpoints: [{ id: 'a', url: 'http://a', weight: 1, backup: false, healthy: true, ejected: false, drained: false, circuit: 'closed' as const }] }]
const extra = { workers: 2, ready: true }

describe('StatsTracker', () => {
  it('turns totals into per-second rates', () => {
    const s = new StatsTracker()
    s.update(0, totals(100), pools, extra)
    const snap = s.update(1000, totals(110), pools, extra)
    assert.equal(snap.rps, 10)
    assert.equal(snap.requests, 110)
    assert.equal(snap.instances, 1)
    assert.equal(snap.pools[0]?.endpoints[0]?.rps, 10)
  })

  it('rebase: requests that joined the totals at once (another instance counted) are not a rate', () => {
    const s = new StatsTracker()
    s.update(0, totals(100), pools, extra)
    s.update(1000, totals(110), pools, extra)
    const joined = totals(1000)
    s.rebase(joined)
    const snap = s.update(2000, totals(1120), pools, { ...extra, instances: 2 })
    assert.equal(snap.rps, 10)
    assert.equal(snap.requests, 1120)
    assert.equal(snap.instances, 2)
    assert.equal(snap.pools[0]?.endpoints[0]?.rps, 10)
  })
})

describe('quantileMs', () => {
  it('interpolates inside the bucket holding the rank, as histogram_quantile', () => {
    const n = DURATION_BUCKETS_SECONDS.length + 1
    const counts = new Array<number>(n).fill(100) // every observation <= the first bound
    const first = (DURATION_BUCKETS_SECONDS[0] ?? 0) * 1000
    assert.equal(quantileMs(counts, 0.5), first / 2)
    assert.equal(quantileMs(new Array<number>(n).fill(0), 0.5), undefined)
  })
})
