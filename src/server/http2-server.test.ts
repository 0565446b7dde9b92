import { test } from 'node:test'
import assert from 'node:assert/strict'
import { http2ServerOptions } from './http2-server.js'

const limits = { headerTimeoutMs: 10_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 5000, sendTimeoutMs: 60_000, maxHeaderBytes: 16384, maxHeaderCount: 100, maxUrlBytes: 8192 }

test('http2ServerOptions: explicit limits, ALPN h2 then http/1.1, no push', () => {
  const o = http2ServerOptions(limits)
  assert.equal(o.allowHTTP1, true)
  assert.deepEqual(o.ALPNProtocols, ['h2', 'http/1.1'])
  assert.equal(o.settings?.maxConcurrentStreams, 100)
  assert.equal(o.settings?.enablePush, false)
  assert.equal(o.maxSessionMemory, 10)
  // One field above the guard's limits stays visible to it (431 with a body rather than a stream reset).
  assert.equal(o.maxHeaderListPairs, 100 + 5 + 1)
  assert.ok((o.settings?.maxHeaderListSize ?? 0) >= 16384 && (o.settings?.maxHeaderListSize ?? 0) < 32 * 1024)
  const custom = http2ServerOptions(limits, { maxConcurrentStreams: 10, maxSessionMemoryMb: 4 })
  assert.equal(custom.settings?.maxConcurrentStreams, 10)
  assert.equal(custom.maxSessionMemory, 4)
})
