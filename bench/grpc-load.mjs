// gRPC unary load loop for bench/run.mjs (ghz is not packaged here): @grpc/grpc-js clients calling
// `/bench.Echo/Unary` with a 2-byte message as fast as answers come back, `--concurrency` calls in flight on
// each of `--connections` channels (each its own HTTP/2 connection), for `--duration` seconds.
//
//   node bench/grpc-load.mjs --port N [--host 127.0.0.1] [--connections 4] [--concurrency 16] [--duration 3]
//
// Prints one JSON line: { requests, errors, seconds, rps, p50us, p75us, p90us, p99us, codes } where
// `errors` counts calls that did not end with status OK (by code in `codes`).
import { parseArgs } from 'node:util'
import * as grpc from '@grpc/grpc-js'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    connections: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '16' },
    duration: { type: 'string', default: '3' },
  },
  strict: true,
})
const identity = (b) => b
const seconds = Number(values.duration)
const target = `${values.host}:${values.port}`
// A local subchannel pool per client: otherwise grpc-js shares one connection between identical clients.
const clients = Array.from({ length: Number(values.connections) }, () => new grpc.Client(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }))
const payload = Buffer.from('ok')
const latencies = []
const codes = {}
let errors = 0
let stopping = false
const startedAt = process.hrtime.bigint()
const deadline = startedAt + BigInt(Math.round(seconds * 1e9))

function loop(client) {
  return new Promise((resolve) => {
    const call = () => {
      if (stopping || process.hrtime.bigint() >= deadline) return resolve()
      const t0 = process.hrtime.bigint()
      client.makeUnaryRequest('/bench.Echo/Unary', identity, identity, payload, (err) => {
        latencies.push(Number(process.hrtime.bigint() - t0) / 1000)
        if (err) {
          errors++
          codes[err.code] = (codes[err.code] ?? 0) + 1
        }
        call()
      })
    }
    call()
  })
}

process.once('SIGTERM', () => (stopping = true))
await Promise.all(clients.flatMap((c) => Array.from({ length: Number(values.concurrency) }, () => loop(c))))
const elapsed = Number(process.hrtime.bigint() - startedAt) / 1e9
for (const c of clients) c.close()
latencies.sort((a, b) => a - b)
const pct = (p) => (latencies.length === 0 ? null : latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))])
console.log(JSON.stringify({ requests: latencies.length, errors, seconds: elapsed, rps: latencies.length / elapsed, p50us: pct(50), p75us: pct(75), p90us: pct(90), p99us: pct(99), codes }))
process.exit(0)
