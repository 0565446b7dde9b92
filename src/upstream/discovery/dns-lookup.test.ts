import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startDnsServer, type TestDnsServer } from '../../../test/helpers/dns-server.js'
import { createLookup } from './dns-lookup.js'
import { endpointsOf, targetOf } from './dns-target.js'

async function dns(t: { after: (fn: () => unknown) => void }): Promise<TestDnsServer> {
  const s = await startDnsServer()
  t.after(() => s.stop())
  return s
}

const backend = (url: string, id = 'x') => ({ id, url, weight: 3, backup: false, drained: false })

test('A and AAAA records become endpoints name@address:port with the shortest TTL', async (t) => {
  const s = await dns(t)
  s.set('backend.test', { a: ['127.0.0.2', '127.0.0.1'], aaaa: ['::1'], ttl: 7 })
  const target = targetOf('p', backend('http://backend.test:3000', 'backend.test:3000'))
  assert.ok(target !== undefined)
  const r = await createLookup({ servers: [s.address] })(target)
  assert.equal(r.ttlSeconds, 7)
  const endpoints = endpointsOf(target, r.addresses)
  assert.deepEqual(endpoints.map((e) => [e.id, e.url, e.weight]), [
    ['backend.test@127.0.0.1:3000', 'http://127.0.0.1:3000', 3],
    ['backend.test@127.0.0.2:3000', 'http://127.0.0.2:3000', 3],
    ['backend.test@[::1]:3000', 'http://[::1]:3000', 3],
  ])
})

test('SRV records give the ports and weights; only the best priority is used', async (t) => {
  const s = await dns(t)
  s.set('_http._tcp.svc.test', {
    srv: [
      { target: 'a.svc.test', port: 4001, weight: 5 },
      { target: 'b.svc.test', port: 4002, weight: 1 },
      { target: 'c.svc.test', port: 4003, weight: 9, priority: 10 },
    ],
    ttl: 30,
  })
  s.set('a.svc.test', { a: ['127.0.0.1'], ttl: 4 })
  s.set('b.svc.test', { a: ['127.0.0.2'], ttl: 60 })
  s.set('c.svc.test', { a: ['127.0.0.3'] })
  const target = targetOf('p', backend('srv+http://_http._tcp.svc.test', '_http._tcp.svc.test'))
  assert.ok(target !== undefined)
  const r = await createLookup({ servers: [s.address] })(target)
  assert.deepEqual(endpointsOf(target, r.addresses).map((e) => [e.id, e.url, e.weight]), [
    ['_http._tcp.svc.test@127.0.0.1:4001', 'http://127.0.0.1:4001', 5],
    ['_http._tcp.svc.test@127.0.0.2:4002', 'http://127.0.0.2:4002', 1],
  ])
  assert.equal(r.ttlSeconds, 4)
})

test('an unknown name and a stopped server reject (the caller keeps its last set)', async (t) => {
  const s = await dns(t)
  const lookup = createLookup({ servers: [s.address], timeoutMs: 200 })
  const target = targetOf('p', backend('http://nowhere.test:80'))
  assert.ok(target !== undefined)
  await assert.rejects(lookup(target), (err: NodeJS.ErrnoException) => err.code === 'ENOTFOUND')
  await s.stop()
  await assert.rejects(lookup(target), (err: NodeJS.ErrnoException) => typeof err.code === 'string')
})
