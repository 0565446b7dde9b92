// A short seeded slice of the fuzzing campaign (bench/fuzz, `npm run fuzz` runs a million requests): a
// warm-up of 20 000 requests, then 20 000 more generated requests (valid, lenient, malformed, smuggling probes, corpus seeds, pipelined, split at
// random bytes, with pauses) through the real balancer (2 workers) to 3 logging backends, and the same
// oracles as the full run: no worker crash, every answer well framed and in order (or a 4xx and close), no
// backend ever sees a request other than the client framed, worker RSS (idle, after a full GC) back within
// 10 % of its value after the warm-up, and no worker's main thread busy (CPU time) for more than 50 ms without yielding. The
// event-loop delay (wall clock) is reported, not asserted: on a shared machine it also counts the time the
// OS kept the worker off the CPU, which says nothing about our code (see bench/README.md).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runCampaign } from '../../bench/fuzz/campaign.js'

const REQUESTS = Number(process.env.LB_FUZZ_SLICE_REQUESTS ?? 20_000)
const MAX_BUSY_MS = Number(process.env.LB_FUZZ_MAX_BUSY_MS ?? 50)

test('fuzz slice: seeded campaign over the real balancer, all oracles hold', { timeout: 180_000 }, async (t) => {
  const r = await runCampaign({ requests: REQUESTS, seed: 'slice-1', connections: 128, hangMs: 5000 })
  const summary = JSON.stringify({ findings: r.stats.findings, examples: r.examples.slice(0, 12) }, null, 1)
  for (const w of r.workers) {
    t.diagnostic(`worker ${w.pid}: busy at most ${w.busyMaxMs.toFixed(1)} ms (CPU of the ${w.cpuSource}), event-loop delay at most ${w.eventLoopMaxMs.toFixed(1)} ms wall (p99 ${w.eventLoopP99MaxMs.toFixed(1)}), RSS ${w.rssStartKb} -> ${w.rssEndKb} KiB`)
  }
  t.diagnostic(`${r.stats.sent} requests in ${(r.durationMs / 1000).toFixed(1)} s, findings ${JSON.stringify(r.stats.findings)}`)
  assert.ok(r.stats.sent >= REQUESTS, `sent ${r.stats.sent}`)
  assert.equal(r.crashes, 0, `worker crashes: ${r.crashLines.join(' | ')}`)
  assert.equal(r.exitCode, 0, 'the balancer drained and exited 0 on SIGTERM')
  assert.equal(r.desyncs, 0, `desyncs: ${summary}`)
  assert.equal(r.hangs, 0, `hangs: ${summary}`)
  assert.equal(r.failures, 0, `oracle failures: ${summary}`)
  for (const w of r.workers) {
    assert.ok(w.busyMaxMs <= MAX_BUSY_MS, `worker ${w.pid}: main thread busy ${w.busyMaxMs} ms without yielding (CPU of the ${w.cpuSource})`)
  }
  // RSS is asserted on Node 20, where the memory oracle is calibrated (bench/README.md) and the million-request
  // run is made. On Node 26 a worker's RSS after a full GC swings by 35-40 % either way with the V8 heap used
  // flat (22 MiB): V8 releases old-space pages lazily (60-90 MiB of anonymous mappings after the warm-up, 30 at
  // the end of the same run), so there the figure measures that timing; it is reported, not asserted.
  if (process.versions.node.startsWith('20.')) {
    for (const w of r.workers) {
      assert.ok(w.rssEndKb <= w.rssStartKb * 1.1, `worker ${w.pid} RSS ${w.rssStartKb} KiB -> ${w.rssEndKb} KiB`)
    }
  }
  // The campaign exercised both sides: a good share forwarded, and malformed requests refused.
  assert.ok(r.stats.forwarded > REQUESTS / 4, `forwarded ${r.stats.forwarded}`)
  assert.ok(r.stats.invalidRefused > 0, 'invalid requests were generated and refused')
})
