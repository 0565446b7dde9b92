/**
 * Requests nobody planned for, over real sockets: header values built to make the guard work hard,
 * framing headers named in `Connection`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { httpGet, rawRequest, startTestBackend, type TestBackend } from '../helpers/index.js'
import { poolConfig, startProxy, type InProcessProxy } from '../helpers/in-process.js'

type T = { after: (fn: () => unknown) => void }

async function setup(t: T, extra: Record<string, unknown> = {}): Promise<{ b: TestBackend; lb: InProcessProxy }> {
  const b = await startTestBackend({ name: 'b1' })
  t.after(() => b.close())
  const lb = await startProxy(poolConfig([b.url], { log: { accessLog: false }, ...extra }))
  t.after(() => lb.close())
  return { b, lb }
}

const PADDED_TE = `a${' '.repeat(25_000)}b, chunked`

test('Transfer-Encoding padded with 25 000 spaces: answered 431 without blocking the worker, other clients served meanwhile', async (t) => {
  const { lb } = await setup(t)
  // The proxy runs in this process: a guard that spends its time in a backtracking regex shows up as
  // event-loop delay here (it took 0.3-1 s per request).
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const bad = Array.from({ length: 6 }, () =>
    rawRequest(lb.port, `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${PADDED_TE}\r\n\r\n0\r\n\r\n`, { timeoutMs: 50 }))
  const good = httpGet(`${lb.url}/ok`)
  const results = await Promise.all(bad)
  const ok = await good
  delay.disable()
  assert.deepEqual(results.map((r) => r.status), [431, 431, 431, 431, 431, 431])
  assert.equal(ok.status, 200)
  const maxMs = delay.max / 1e6
  assert.ok(maxMs < 300, `event loop blocked ${maxMs.toFixed(0)} ms`)
})

test('the same padded Transfer-Encoding within a raised header limit is scanned in linear time and forwarded', async (t) => {
  const { b, lb } = await setup(t, { limits: { maxHeaderSize: '64KiB' } })
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const results = await Promise.all(Array.from({ length: 4 }, () =>
    rawRequest(lb.port, `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${PADDED_TE}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, { timeoutMs: 50 })))
  delay.disable()
  assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200])
  assert.equal(b.count('/x'), 4)
  assert.ok(b.requests.every((r) => r.bodyBytes === 3))
  const maxMs = delay.max / 1e6
  assert.ok(maxMs < 300, `event loop blocked ${maxMs.toFixed(0)} ms`)
})

test('Connection naming Content-Length, Transfer-Encoding or Host: ignored, the body and the Host reach the backend', async (t) => {
  const { b, lb } = await setup(t)
  const cl = await rawRequest(lb.port, 'POST /cl HTTP/1.1\r\nHost: a.test\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello', { timeoutMs: 50 })
  assert.equal(cl.status, 200)
  const te = await rawRequest(lb.port, 'POST /te HTTP/1.1\r\nHost: a.test\r\nConnection: Transfer-Encoding, keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', { timeoutMs: 50 })
  assert.equal(te.status, 200)
  const host = await rawRequest(lb.port, 'POST /host HTTP/1.1\r\nHost: a.test\r\nConnection: host, x-secret\r\nX-Secret: s\r\nContent-Length: 2\r\n\r\nhi', { timeoutMs: 50 })
  assert.equal(host.status, 200)
  const seen = (path: string): { bodyBytes: number; headers: Record<string, unknown> } => {
    const r = b.requests.find((x) => x.url === path)
    assert.ok(r, `backend saw ${path}`)
    return { bodyBytes: r.bodyBytes, headers: r.headers }
  }
  assert.equal(seen('/cl').bodyBytes, 5)
  assert.equal(seen('/te').bodyBytes, 5)
  assert.equal(seen('/host').bodyBytes, 2)
  assert.equal(seen('/host').headers.host, 'a.test')
  assert.equal(seen('/host').headers['x-secret'], undefined, 'other names listed in Connection are still removed')
})

test('Connection: content-length does not skip the body-size limit', async (t) => {
  const { b, lb } = await setup(t, { limits: { maxBodySize: '4B' } })
  const res = await rawRequest(lb.port, 'POST /big HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\nContent-Length: 10\r\n\r\n0123456789', { timeoutMs: 50 })
  assert.equal(res.status, 413)
  const chunked = await rawRequest(lb.port, 'POST /big2 HTTP/1.1\r\nHost: a\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n', { timeoutMs: 50 })
  assert.equal(chunked.status, 413)
  assert.ok(b.requests.every((r) => r.bodyBytes <= 4), 'no more than the limit reached the backend')
})

test('x-lb-debug: after 10 wrong tokens a client gets 429 with Retry-After, the right token is not even compared; plain requests unaffected', async (t) => {
  const { b, lb } = await setup(t, { admin: { token: 'the-debug-token-42' } })
  for (let i = 0; i < 10; i++) {
    const r = await httpGet(`${lb.url}/guess`, { 'x-lb-debug': `guess-${i}` })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-lb-decision'], undefined)
  }
  const throttled = await httpGet(`${lb.url}/guess`, { 'x-lb-debug': 'the-debug-token-42' })
  assert.equal(throttled.status, 429)
  assert.ok(Number(throttled.headers['retry-after']) > 0, 'Retry-After')
  assert.equal(throttled.headers['x-lb-decision'], undefined, 'no trace while throttled, even with the right token')
  assert.equal((await httpGet(`${lb.url}/plain`)).status, 200)
  assert.equal(b.count('/guess'), 10)
})
