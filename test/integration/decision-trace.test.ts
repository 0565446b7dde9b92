/** Decision trace: `x-lb-debug: <admin token>` explains the choice; without the token nothing is revealed. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { getFreePort, httpRequest, startTestBackend } from '../helpers/index.js'
import { startAdminBalancer } from '../helpers/admin.js'

test('decision trace: ignored without the admin token; with it the header names the skipped endpoints and why, and each try', async (t) => {
  const [a, c] = await Promise.all([startTestBackend({ name: 'a' }), startTestBackend({ name: 'c' })])
  t.after(() => Promise.all([a.close(), c.close()]))
  const closed = await getFreePort()
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 1,
    pools: {
      p: {
        backends: [
          { url: a.url, id: 'a', drained: true },
          { url: `http://127.0.0.1:${closed}`, id: 'refusing' },
          { url: c.url, id: 'c' },
        ],
        healthCheck: { enabled: false },
        outlierDetection: { enabled: false },
      },
    },
  })
  t.after(() => lb.stop('SIGKILL'))
  const url = `http://127.0.0.1:${lb.port}/`
  const plain = await httpRequest(url)
  assert.equal(plain.headers['x-lb-decision'], undefined)
  const wrong = await httpRequest(url, { headers: { 'x-lb-debug': 'not-the-token' } })
  assert.equal(wrong.status, 200)
  assert.equal(wrong.headers['x-lb-decision'], undefined, 'a wrong token reveals nothing')

  // Two requests: round robin makes one of them try the refusing endpoint first.
  const traces: string[] = []
  for (let i = 0; i < 2; i++) {
    const res = await httpRequest(url, { headers: { 'x-lb-debug': lb.token } })
    assert.equal(res.status, 200)
    traces.push(String(res.headers['x-lb-decision']))
  }
  for (const trace of traces) {
    assert.match(trace, /algorithm=round-robin/)
    assert.match(trace, /skipped=a\(draining\)/)
    assert.match(trace, /c( excluding refusing)? -> 200/, trace)
  }
  assert.ok(traces.some((tr) => /refusing -> connect, c excluding refusing -> 200/.test(tr)), traces.join('\n'))
  // The debug header itself never reaches a backend.
  assert.ok(c.requests.every((r) => r.headers['x-lb-debug'] === undefined))
})
