// Routing with many routes over real sockets: past the size where the router indexes its routes by host
// and path prefix, the first route in configured order that matches still decides the pool, for prefix,
// host, regex and method routes alike, and a request no route matches still gets 404.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { startTestBackend } from '../helpers/index.js'
import { startProxy } from '../helpers/in-process.js'

function get(port: number, path: string, host: string, method = 'GET'): Promise<{ status: number; backend: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { host }, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, backend: res.headers['x-backend'] as string | undefined }))
    })
    req.on('error', reject)
    req.end()
  })
}

test('with 1 000 routes the first route in configured order that matches chooses the pool', async (t) => {
  const names = ['early', 'prefix', 'host', 'regex', 'late'] as const
  const backends = await Promise.all(names.map((name) => startTestBackend({ name })))
  t.after(() => Promise.all(backends.map((b) => b.close())))
  const pools = Object.fromEntries(backends.map((b) => [b.name, { backends: [{ url: b.url }], healthCheck: { enabled: false }, retries: { attempts: 1 } }]))
  const routes: unknown[] = [{ match: { methods: ['DELETE'] }, pool: 'early' }]
  for (let i = 0; i < 333; i++) routes.push({ match: { pathPrefix: `/p${i}/` }, pool: 'prefix' })
  for (let i = 0; i < 333; i++) routes.push({ match: { host: `h${i}.example` }, pool: 'host' })
  for (let i = 0; i < 333; i++) routes.push({ match: { pathRegex: `^/x${i}/\\d+$` }, pool: 'regex' })
  routes.push({ match: { host: 'h1.example', pathPrefix: '/only-late/' }, pool: 'late' })
  routes.push({ match: { pathPrefix: '/late/' }, pool: 'late' })
  const proxy = await startProxy({ workers: 1, pools, routes })
  t.after(() => proxy.close())

  const cases: [path: string, host: string, method: string, backend: string | undefined, status: number][] = [
    ['/p332/a', 'x', 'GET', 'prefix', 200],
    ['/a', 'H332.example:8080', 'GET', 'host', 200],
    ['/x332/7', 'x', 'GET', 'regex', 200],
    ['/p5/a', 'h5.example', 'DELETE', 'early', 200],
    ['/p5/a', 'h5.example', 'GET', 'prefix', 200],
    ['/x5/1', 'h5.example', 'GET', 'host', 200],
    ['/only-late/a', 'h1.example', 'GET', 'host', 200],
    ['/late/a', 'nowhere', 'GET', 'late', 200],
    ['/x5/a', 'nowhere', 'GET', undefined, 404],
  ]
  for (const [path, host, method, backend, status] of cases) {
    const r = await get(proxy.port, path, host, method)
    assert.deepEqual(r, { status, backend }, `${method} ${host} ${path}`)
  }
})
