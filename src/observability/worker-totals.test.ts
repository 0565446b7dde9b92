import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import diagnostics from 'node:diagnostics_channel'
import { CHANNELS, type RequestEvent, type WebSocketEvent } from '../core/index.js'
import { WorkerMetrics, type PoolMetricsSource } from './metrics.js'
import { readCumulative, type MetricsJson } from './stats-totals.js'
import { workerTotals } from './worker-totals.js'

function request(over: Partial<RequestEvent>): RequestEvent {
  return {
    requestId: 'r', clientIp: '127.0.0.1', method: 'GET', host: 'h', path: '/', route: 'r1', pool: 'api', endpoint: 'a',
    status: 200, bytesIn: 0, bytesOut: 2, durationMs: 3, upstreamMs: 2, retries: 0, error: '', ...over,
  }
}

describe('workerTotals', () => {
  it('equals readCumulative of the registry JSON: requests, codes, errors, buckets, gauges, rate limits', async (t) => {
    const circuits = ['closed', 'half-open', 'open'] as const
    const pool: PoolMetricsSource = {
      name: 'api',
      retryBudget: { exhausted: 0 },
      snapshot: () => Array.from({ length: 30 }, (_, i) => ({ id: `e${i}`, inFlight: i % 3, circuit: circuits[i % 3] ?? 'closed' })),
    }
    const metrics = new WorkerMetrics(() => [pool])
    t.after(() => metrics.close())
    const publish = (e: RequestEvent): void => diagnostics.channel(CHANNELS.request).publish(e)
    for (let i = 0; i < 300; i++) {
      // Unknown methods share the OTHER series; statuses of every class, durations across the buckets.
      publish(request({ endpoint: `e${i % 30}`, method: i % 7 === 0 ? 'FOO' : i % 11 === 0 ? 'BAR' : 'GET', status: [200, 503, 404, 302, 700][i % 5] ?? 200, durationMs: (i % 40) * 37 }))
    }
    publish(request({ endpoint: '', status: 429, error: 'LB_ERR_RATE_LIMITED', upstreamMs: -1 }))
    diagnostics.channel(CHANNELS.websocket).publish({ pool: 'api', endpoint: 'e1', open: true } satisfies WebSocketEvent)
    const expected = readCumulative([(await metrics.registry.getMetricsAsJSON()) as MetricsJson])
    const actual = await workerTotals(metrics)
    assert.deepEqual(actual, expected)
    assert.equal(actual.rateLimited, 1)
    assert.equal(actual.websockets, 1)
    assert.equal(actual.circuit.get('api\u0000e2'), 2)
  })
})
