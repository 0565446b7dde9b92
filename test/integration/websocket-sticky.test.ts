/**
 * Sticky sessions on WebSocket (and any `Upgrade`) tunnels, over real sockets with two real backends:
 * an upgrade with no cookie is balanced, and its 101 carries the sticky cookie naming the endpoint
 * picked; upgrades (and plain requests) with that cookie reach the same endpoint; when it is gone the
 * upgrade goes elsewhere with a new cookie.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { httpGet, startTestBackend } from '../helpers/index.js'
import { startProxy } from '../helpers/in-process.js'

interface UpgradeAnswer {
  status: number
  backend: string
  /** The `name=value` part of the sticky Set-Cookie, if any. */
  cookie: string | undefined
}

/** Sends one WebSocket upgrade request and closes the connection as soon as the answer head arrived. */
function upgrade(port: number, cookie?: string): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': Buffer.alloc(16, 7).toString('base64'),
    }
    if (cookie !== undefined) headers.cookie = cookie
    const req = http.request({ host: '127.0.0.1', port, path: '/ws', headers, agent: false })
    const answer = (res: http.IncomingMessage): UpgradeAnswer => ({
      status: res.statusCode ?? 0,
      backend: String(res.headers['x-backend']),
      cookie: (res.headers['set-cookie'] ?? []).find((c) => c.startsWith('lb_sticky='))?.split(';')[0],
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve(answer(res))
    })
    req.on('response', (res) => {
      res.resume()
      resolve(answer(res))
    })
    req.on('error', reject)
    req.end()
  })
}

test('WebSocket upgrades honour sticky cookies, and a new pick sets one on the 101', async (t) => {
  const a = await startTestBackend({ name: 'a' })
  const b = await startTestBackend({ name: 'b' })
  const lb = await startProxy({
    workers: 1,
    log: { accessLog: false },
    pools: {
      web: {
        algorithm: 'round-robin',
        backends: [{ id: 'a', url: a.url }, { id: 'b', url: b.url }],
        healthCheck: { enabled: false },
        outlierDetection: { enabled: false },
        stickySession: true,
      },
    },
  })
  t.after(async () => {
    await lb.close()
    await a.close()
    await b.close()
  })

  const first = await upgrade(lb.port)
  assert.equal(first.status, 101)
  assert.ok(first.cookie !== undefined, 'the 101 of a new session carries the sticky cookie')
  const pinned = first.backend
  for (let i = 0; i < 10; i++) {
    const r = await upgrade(lb.port, first.cookie)
    assert.equal(r.status, 101)
    assert.equal(r.backend, pinned, `upgrade ${i} reached the pinned endpoint`)
    assert.equal(r.cookie, undefined, 'a valid cookie is not set again')
  }
  // One session, whatever the transport: plain requests with the WebSocket's cookie land there too.
  for (let i = 0; i < 4; i++) assert.equal((await httpGet(`${lb.url}/`, { cookie: first.cookie as string })).headers['x-backend'], pinned)

  // A cookie set by a plain response pins the upgrades of that client as well.
  const plain = await httpGet(`${lb.url}/`)
  const plainCookie = (plain.headers['set-cookie'] ?? []).find((c) => c.startsWith('lb_sticky='))?.split(';')[0] as string
  for (let i = 0; i < 4; i++) assert.equal((await upgrade(lb.port, plainCookie)).backend, plain.headers['x-backend'])

  // The pinned endpoint goes away: the upgrade is retried on the other one, which pins the client anew.
  await (pinned === 'a' ? a : b).close()
  const moved = await upgrade(lb.port, first.cookie)
  assert.equal(moved.status, 101)
  assert.notEqual(moved.backend, pinned)
  assert.ok(moved.cookie !== undefined && moved.cookie !== first.cookie, 'a new cookie for the new endpoint')
})
