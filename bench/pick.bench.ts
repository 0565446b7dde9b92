/**
 * Hot-path benchmark of `Balancer.pick()`: picks per second for every algorithm, over 3 and 50
 * endpoints, with a per-request hash key and a light, changing in-flight load.
 * Run: `node --import tsx bench/pick.bench.ts` (numbers vary by machine; quote them in pull requests).
 */
import type { Endpoint, EndpointLoad } from '../src/core/index.js'
import { seededRandom } from '../src/core/index.js'
import { ALGORITHMS, createBalancer } from '../src/balancer/index.js'

const PICKS = 1_000_000
const KEYS = Array.from({ length: 1024 }, (_, i) => `203.0.113.${i & 255}:${i}`)

function endpoints(n: number): Endpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `10.0.${i >> 8}.${i & 255}:8080`,
    url: new URL(`http://10.0.${i >> 8}.${i & 255}:8080`),
    weight: 1 + (i % 3),
    backup: false,
  }))
}

function bench(algorithm: (typeof ALGORITHMS)[number], n: number): number {
  const inFlight = new Map<string, number>()
  const load: EndpointLoad = { inFlight: (id) => inFlight.get(id) ?? 0, ewmaMs: (id) => 5 + (inFlight.get(id) ?? 0) }
  const balancer = createBalancer(algorithm, load, seededRandom(1))
  const ready = endpoints(n)
  balancer.reset(ready)
  for (const e of ready) inFlight.set(e.id, 0)
  let sink = 0
  const started = performance.now()
  for (let i = 0; i < PICKS; i++) {
    const picked = balancer.pick({ hashKey: KEYS[i & 1023] })
    if (picked === undefined) continue
    // Keep a small, moving load so load-aware algorithms do real comparisons.
    const current = inFlight.get(picked.id) ?? 0
    inFlight.set(picked.id, current >= 8 ? 0 : current + 1)
    sink += picked.weight
  }
  const elapsedMs = performance.now() - started
  if (sink === 0) throw new Error('nothing picked')
  return (PICKS / elapsedMs) * 1000
}

for (const algorithm of ALGORITHMS) bench(algorithm, 3) // warm up the JIT before measuring
const rows = ALGORITHMS.map((algorithm) => ({
  algorithm,
  '3 endpoints (picks/s)': Math.round(bench(algorithm, 3)).toLocaleString('en-US'),
  '50 endpoints (picks/s)': Math.round(bench(algorithm, 50)).toLocaleString('en-US'),
}))
console.table(rows)
