/**
 * The access log of a real balancer (2 workers): one JSON line per request with the documented
 * fields (written to log.accessLogFile, flushed on drain), and nothing at all when it is off.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startAdminBalancer } from '../helpers/admin.js'
import { httpGet, httpRequest, startTestBackend } from '../helpers/index.js'

const FIELDS = ['time', 'level', 'msg', 'reqId', 'client', 'method', 'host', 'path', 'route', 'pool', 'endpoint', 'status', 'bytesIn', 'bytesOut', 'durationMs', 'upstreamMs', 'retries', 'worker']

test('one JSON line per request with the fields', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-access-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'logs', 'access.log')
  const a = await startTestBackend({ name: 'a', scriptPath: '/missing', script: [404] })
  t.after(() => a.close())
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 2,
    log: { accessLog: true, accessLogFile: file },
    pools: { web: { backends: [{ id: 'a', url: a.url }], healthCheck: { enabled: false } } },
  })
  const ids: string[] = []
  const N = 30
  for (let i = 0; i < N - 2; i++) {
    const r = await httpGet(`http://127.0.0.1:${lb.port}/item/${i}?q=1`, { 'x-request-id': `req-${i}` })
    assert.equal(r.status, 200)
    ids.push(`req-${i}`)
  }
  const post = await httpRequest(`http://127.0.0.1:${lb.port}/upload`, { method: 'POST', body: 'hello world' })
  ids.push(String(post.headers['x-request-id']))
  const missing = await httpGet(`http://127.0.0.1:${lb.port}/missing`)
  assert.equal(missing.status, 404)
  ids.push(String(missing.headers['x-request-id']))
  assert.equal(await lb.stop(), 0)

  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '')
  assert.equal(lines.length, N, 'one line per request')
  const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  for (const e of entries) for (const f of FIELDS) assert.ok(f in e, `field ${f} in ${JSON.stringify(e)}`)
  assert.deepEqual(entries.map((e) => e.reqId).sort(), [...ids].sort())
  const first = entries.find((e) => e.reqId === 'req-0')
  assert.ok(first !== undefined)
  assert.equal(first.method, 'GET')
  assert.equal(first.path, '/item/0?q=1')
  assert.equal(first.host, `127.0.0.1:${lb.port}`)
  assert.equal(first.client, '127.0.0.1')
  assert.equal(first.pool, 'web')
  assert.equal(first.endpoint, 'a')
  assert.equal(first.status, 200)
  assert.equal(first.retries, 0)
  assert.equal(first.msg, 'request')
  assert.equal(first.level, 'info')
  assert.ok(typeof first.durationMs === 'number' && first.durationMs >= 0)
  assert.ok(typeof first.upstreamMs === 'number' && first.upstreamMs >= 0)
  assert.ok(typeof first.bytesOut === 'number' && first.bytesOut > 0)
  assert.ok(typeof first.time === 'number' && Math.abs(first.time - Date.now()) < 60_000)
  const postEntry = entries.find((e) => e.method === 'POST')
  assert.equal(postEntry?.bytesIn, 11)
  assert.equal(entries.find((e) => e.path === '/missing')?.status, 404)
  assert.equal(new Set(entries.map((e) => e.worker)).size, 2, 'both workers wrote to the same file')
})

test('an error is logged with its code', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-access-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'access.log')
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 1,
    log: { accessLog: true, accessLogFile: file },
    pools: { web: { backends: [{ id: 'gone', url: 'http://127.0.0.1:9' }], healthCheck: { enabled: false }, retries: { attempts: 1 } } },
  })
  const r = await httpGet(`http://127.0.0.1:${lb.port}/`)
  assert.equal(r.status, 502)
  assert.equal(await lb.stop(), 0)
  const entries = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.equal(entries.length, 1)
  assert.equal(entries[0]?.status, 502)
  assert.equal(entries[0]?.error, 'LB_ERR_CONNECT')
  assert.equal(entries[0]?.upstreamMs, -1)
})

test('with log.accessLog false there is no access log at all', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-access-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'access.log')
  const a = await startTestBackend({ name: 'a' })
  t.after(() => a.close())
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 2,
    log: { accessLog: false, accessLogFile: file },
    pools: { web: { backends: [{ url: a.url }], healthCheck: { enabled: false } } },
  })
  for (let i = 0; i < 10; i++) assert.equal((await httpGet(`http://127.0.0.1:${lb.port}/x`)).status, 200)
  assert.equal(await lb.stop(), 0)
  assert.equal(existsSync(file), false, 'no file written')
  assert.doesNotMatch(lb.output(), /"msg":"request"/, 'nothing on stdout either')
})
