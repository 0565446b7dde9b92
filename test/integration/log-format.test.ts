/**
 * `log.format: pretty` on a real balancer (2 workers): the event log and the access log come out
 * prettified by pino-pretty (a dev dependency here) instead of JSON lines.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBalancerProcess } from '../helpers/balancer-process.js'
import { httpGet, startTestBackend, waitFor } from '../helpers/index.js'

test('log.format pretty: lifecycle and access log lines are human-readable, not JSON', async (t) => {
  const a = await startTestBackend({ name: 'a' })
  t.after(() => a.close())
  const lb = await startBalancerProcess({
    config: {
      listen: { host: '127.0.0.1' },
      workers: 2,
      log: { format: 'pretty', accessLog: true },
      pools: { web: { backends: [{ id: 'a', url: a.url }], healthCheck: { enabled: false } } },
    },
    env: { LOG_LEVEL: 'info' },
  })
  t.after(() => lb.stop())
  const r = await httpGet(`http://127.0.0.1:${lb.port}/pretty-path`, { 'x-request-id': 'pretty-1' })
  assert.equal(r.status, 200)
  // pino-pretty's layout: "[HH:MM:ss.mmm] INFO: request" then one indented "key: value" per field.
  const out = await waitFor(() => (/\] INFO: request\n(\s+\w+: .*\n)*\s+reqId: "pretty-1"/.test(lb.output()) ? lb.output() : undefined), { message: 'a pretty access-log entry' })
  assert.match(out, /\] INFO: request\n(\s+\w+: .*\n)*\s+path: "\/pretty-path"/)
  assert.match(out, /\] INFO: (started|listening|worker)[^\n]*\n/, 'lifecycle events are pretty too')
  assert.ok(!out.split('\n').some((l) => l.startsWith('{"level"')), `no JSON log line in:\n${out}`)
})
