import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import { collectProcessMetrics } from './process-metrics.js'

test('process metrics: collections in quick succession never render NaN or an empty-window minimum', async () => {
  const registry = new Registry()
  collectProcessMetrics(registry, '7')
  await new Promise((resolve) => setTimeout(resolve, 50)) // some event-loop samples
  for (let i = 0; i < 5; i++) {
    const text = await registry.metrics()
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      const value = line.slice(line.lastIndexOf(' ') + 1)
      assert.ok(Number.isFinite(Number(value)), `finite value expected: ${line}`)
    }
    assert.match(text, /^nodejs_eventloop_lag_p99_seconds\{worker="7"\} \S+$/m)
    const min = /^nodejs_eventloop_lag_min_seconds\{worker="7"\} (\S+)$/m.exec(text)
    assert.ok(min !== null && Number(min[1]) < 1, `a real minimum delay, got ${min?.[1] ?? 'none'}`)
    assert.match(text, /^process_resident_memory_bytes\{worker="7"\} \d+/m)
    assert.match(text, /^process_start_time_seconds\{worker="7"\} \d+/m)
    if (process.platform === 'linux') assert.match(text, /^process_open_fds\{worker="7"\} [1-9]\d*$/m)
  }
})
