/**
 * Route matching on normalized paths over real sockets: `//login`, `/./login`, `/%6Cogin` reach the
 * `/login` route; the path goes upstream as sent (match-only), normalized (forward) or is matched raw
 * (off); encoded slashes are refused with 400 unless allowed; upgrades follow the same rules.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rawRequest, startTestBackend, type TestBackend } from '../helpers/index.js'
import { startProxy, type InProcessProxy } from '../helpers/in-process.js'

type T = { after: (fn: () => unknown) => void }

async function setup(t: T, listen: Record<string, unknown> = {}): Promise<{ login: TestBackend; other: TestBackend; lb: InProcessProxy }> {
  const login = await startTestBackend({ name: 'login' })
  t.after(() => login.close())
  const other = await startTestBackend({ name: 'other' })
  t.after(() => other.close())
  const lb = await startProxy({
    workers: 1,
    log: { accessLog: false },
    listen,
    pools: {
      login: { backends: [{ url: login.url }], healthCheck: { enabled: false } },
      other: { backends: [{ url: other.url }], healthCheck: { enabled: false } },
    },
    routes: [
      { match: { pathPrefix: '/login' }, pool: 'login' },
      { match: { pathPrefix: '/ws' }, pool: 'login' },
      { match: { pathPrefix: '/' }, pool: 'other' },
    ],
  })
  t.after(() => lb.close())
  return { login, other, lb }
}

async function get(lb: InProcessProxy, target: string): Promise<{ status?: number; backend?: string; raw: string }> {
  const res = await rawRequest(lb.port, `GET ${target} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n`, { timeoutMs: 50 })
  return { status: res.status, backend: /\r\nx-backend: (\w+)/i.exec(res.raw)?.[1], raw: res.raw }
}

const SNEAKY = ['//login', '/./login', '/%6Cogin', '/x/../login', '/../login', '/%2e/login', '/login/..//login/a']

test('match-only (default): sneaky spellings of /login reach the /login route; the backend gets the path as sent', async (t) => {
  const { login, other, lb } = await setup(t)
  for (const p of SNEAKY) {
    const r = await get(lb, `${p}?q=1`)
    assert.equal(r.status, 200, p)
    assert.equal(r.backend, 'login', p)
  }
  assert.deepEqual(login.requests.map((r) => r.url), SNEAKY.map((p) => `${p}?q=1`))
  assert.equal(other.requests.length, 0)
  assert.equal((await get(lb, '/static/app.js')).backend, 'other')
})

test('forward: the backend gets the normalized path with the original query', async (t) => {
  const { login, lb } = await setup(t, { normalizePath: 'forward' })
  for (const p of SNEAKY) assert.equal((await get(lb, `${p}?x=/../y`)).backend, 'login', p)
  assert.deepEqual(login.requests.map((r) => r.url), SNEAKY.map((p) => `${p === '/login/..//login/a' ? '/login/a' : '/login'}?x=/../y`))
})

test('off: routes match the path as sent', async (t) => {
  const { login, other, lb } = await setup(t, { normalizePath: 'off' })
  assert.equal((await get(lb, '//login')).backend, 'other')
  assert.equal((await get(lb, '/%6Cogin')).backend, 'other')
  assert.equal((await get(lb, '/login')).backend, 'login')
  assert.equal(login.requests.length, 1)
  assert.equal(other.requests.length, 2)
})

test('encoded slashes are refused with 400 (any case, every mode) unless allowEncodedSlashes', async (t) => {
  const { login, other, lb } = await setup(t)
  for (const p of ['/login%2Fadmin', '/login%2fadmin', '/a%5C..%5Clogin', '/a%5c']) {
    const r = await get(lb, p)
    assert.equal(r.status, 400, p)
    assert.match(r.raw, /encoded/)
  }
  assert.equal(login.requests.length + other.requests.length, 0)
  const off = await setup(t, { normalizePath: 'off' })
  assert.equal((await get(off.lb, '/a%2Fb')).status, 400)
  const allowed = await setup(t, { allowEncodedSlashes: true })
  const r = await get(allowed.lb, '/login%2Fadmin')
  assert.equal(r.status, 200)
  assert.equal(allowed.login.requests[0]?.url, '/login%2Fadmin')
})

function upgrade(lb: InProcessProxy, target: string): Promise<{ status?: number }> {
  return rawRequest(lb.port, `GET ${target} HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n', { timeoutMs: 50 })
}

test('upgrades: routed on the normalized path, forwarded normalized in forward mode, encoded slashes refused', async (t) => {
  const fwd = await setup(t, { normalizePath: 'forward' })
  assert.equal((await upgrade(fwd.lb, '//ws')).status, 101)
  assert.equal((await upgrade(fwd.lb, '/./%77s?x')).status, 101)
  assert.equal((await upgrade(fwd.lb, '/ws%2F')).status, 400)
  const off = await setup(t, { normalizePath: 'off' })
  // Raw `//ws` matches the catch-all route: the other backend has no WebSocket at `//ws`.
  assert.notEqual((await upgrade(off.lb, '//ws')).status, 101)
  assert.equal((await upgrade(off.lb, '/ws')).status, 101)
})

test('match-only: a route that strips its prefix strips it from the normalized path (//api/x matched /api)', async (t) => {
  const b = await startTestBackend({ name: 'api' })
  t.after(() => b.close())
  const lb = await startProxy({
    workers: 1,
    log: { accessLog: false },
    pools: { api: { backends: [{ url: b.url }], healthCheck: { enabled: false } } },
    routes: [{ match: { pathPrefix: '/api/' }, pool: 'api', rewrite: { stripPrefix: '/api' } }],
  })
  t.after(() => lb.close())
  for (const p of ['/api/users?x=1', '//api/users?x=1', '/./api/%75sers?x=1']) assert.equal((await get(lb, p)).status, 200, p)
  assert.deepEqual(b.requests.map((r) => r.url), ['/users?x=1', '/users?x=1', '/users?x=1'])
})

test('upgrades: a route that strips its prefix strips it from the normalized path', async (t) => {
  const b = await startTestBackend({ name: 'ws' })
  t.after(() => b.close())
  const lb = await startProxy({
    workers: 1,
    log: { accessLog: false },
    pools: { ws: { backends: [{ url: b.url }], healthCheck: { enabled: false } } },
    routes: [{ match: { pathPrefix: '/chat/' }, pool: 'ws', rewrite: { stripPrefix: '/chat' } }],
  })
  t.after(() => lb.close())
  assert.equal((await upgrade(lb, '/chat/ws')).status, 101)
  assert.equal((await upgrade(lb, '//chat/./ws')).status, 101)
})
