import assert from 'node:assert/strict'
import http from 'node:http'
import { test } from 'node:test'
import { startTestBackend } from './backend.js'
import { spawnBackendProcess } from './backend-process.js'
import { getFreePort, httpGet, httpRequest, rawRequest, waitFor } from './net.js'
import { openWebSocket, openWebSockets, closeWebSockets } from './ws.js'

test('test backend', { timeout: 60_000 }, async (t) => {
  await t.test('default answer echoes the request and records it', async (t) => {
    const b = await startTestBackend({ name: 'a' })
    t.after(() => b.close())
    const res = await httpRequest(`${b.url}/x?y=1`, { method: 'POST', headers: { 'x-h': '1' }, body: 'twelve bytes' })
    assert.equal(res.status, 200)
    assert.equal(res.headers['x-backend'], 'a')
    const body = JSON.parse(res.body) as { backend: string; method: string; url: string; headers: Record<string, string> }
    assert.deepEqual([body.backend, body.method, body.url, body.headers['x-h']], ['a', 'POST', '/x?y=1', '1'])
    assert.equal(b.requests.length, 1)
    const [r] = b.requests
    assert.deepEqual([r?.method, r?.url, r?.bodyBytes, r?.headers['x-h']], ['POST', '/x?y=1', 12, '1'])
    assert.ok(typeof r?.at === 'number' && r.at <= Date.now())
    assert.equal(b.count('/x'), 1)
    assert.equal(b.count('/other'), 0)
  })

  await t.test('script 200,503,503,200 replays in order, then repeats the last step', async (t) => {
    const b = await startTestBackend({ name: 'b', script: [200, 503, 503, 200] })
    t.after(() => b.close())
    const agent = new http.Agent({ keepAlive: true })
    t.after(() => agent.destroy())
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      const res = await httpGet(`${b.url}/`, {}, { agent })
      assert.equal(res.headers['x-backend'], 'b')
      statuses.push(res.status)
    }
    assert.deepEqual(statuses, [200, 503, 503, 200, 200, 200])
    b.setScript([500, { status: 201, delayMs: 50 }], { loop: true })
    const looped: number[] = []
    for (let i = 0; i < 4; i++) looped.push((await httpGet(`${b.url}/`, {}, { agent })).status)
    assert.deepEqual(looped, [500, 201, 500, 201])
    assert.equal(b.count(), 10)
  })

  await t.test('scriptPath limits the script to matching requests', async (t) => {
    const b = await startTestBackend({ name: 'c', script: [503], scriptPath: '/api' })
    t.after(() => b.close())
    assert.equal((await httpGet(`${b.url}/health`)).status, 200)
    assert.equal((await httpGet(`${b.url}/api/x`)).status, 503)
  })

  await t.test("'hang' accepts and never answers; close() still ends it", async (t) => {
    const b = await startTestBackend({ name: 'd', script: ['hang'] })
    t.after(() => b.close())
    const res = await rawRequest(b.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { deadlineMs: 500 })
    assert.equal(res.status, undefined)
    assert.equal(res.closed, false)
    assert.equal(b.count('/'), 1)
    const pending = httpRequest(`${b.url}/`, { timeoutMs: 30_000 })
    await waitFor(() => b.count() === 2)
    await b.close()
    await assert.rejects(pending)
  })

  await t.test("'reset' drops the connection before any response byte", async (t) => {
    const b = await startTestBackend({ name: 'e', script: ['reset', 200] })
    t.after(() => b.close())
    const res = await rawRequest(b.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    assert.equal(res.closed, true)
    assert.equal(res.raw, '')
    assert.equal((await httpGet(`${b.url}/`)).status, 200)
    assert.equal(b.count(), 2)
  })

  await t.test("'reset-mid-body' sends headers and part of the body, then closes", async (t) => {
    const b = await startTestBackend({ name: 'f', script: ['reset-mid-body'] })
    t.after(() => b.close())
    const res = await rawRequest(b.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    assert.equal(res.closed, true)
    assert.match(res.raw, /^HTTP\/1\.1 200/)
    assert.match(res.raw, /x-backend: f/i)
    assert.equal(res.status, 200)
    await assert.rejects(httpGet(`${b.url}/`))
  })

  await t.test('closeAllConnections drops keep-alive sockets but keeps listening', async (t) => {
    const b = await startTestBackend({ name: 'g' })
    t.after(() => b.close())
    const agent = new http.Agent({ keepAlive: true })
    t.after(() => agent.destroy())
    await httpGet(`${b.url}/`, {}, { agent })
    b.closeAllConnections()
    await waitFor(() => Object.keys(agent.freeSockets).length === 0)
    assert.equal((await httpGet(`${b.url}/`, {}, { agent })).status, 200)
  })

  await t.test('WebSocket echo on /ws', async (t) => {
    const b = await startTestBackend({ name: 'h' })
    t.after(() => b.close())
    const clients = await openWebSockets(`ws://127.0.0.1:${b.port}/ws`, 5)
    t.after(() => closeWebSockets(clients))
    const answers = await Promise.all(clients.map((c, i) => c.echo(`m${i}`)))
    assert.deepEqual(answers, ['m0', 'm1', 'm2', 'm3', 'm4'])
    const one = await openWebSocket(`ws://127.0.0.1:${b.port}/ws`)
    b.closeAllConnections()
    const closed = await one.closed
    assert.equal(closed.wasClean, false)
  })
})

test('backend process: kill and restart on the same port', { timeout: 90_000 }, async (t) => {
  const port = await getFreePort()
  const p = await spawnBackendProcess('proc', port)
  t.after(() => p.stop())
  assert.equal(p.port, port)
  const first = await httpGet(`${p.url}/api/health`)
  assert.equal(first.headers['x-backend'], 'proc')
  const pid = p.pid
  await p.kill('SIGKILL')
  assert.equal(p.isRunning, false)
  await assert.rejects(httpGet(`${p.url}/api/health`))
  await p.restart()
  assert.notEqual(p.pid, pid)
  assert.equal((await httpGet(`${p.url}/api/health`)).status, 200)
  await p.stop()
  assert.equal(p.isRunning, false)

  const ephemeral = await spawnBackendProcess('eph')
  t.after(() => ephemeral.stop())
  assert.ok(ephemeral.port > 0)
  assert.equal((await httpGet(`${ephemeral.url}/api/test`)).headers['x-backend'], 'eph')
})
