// WebSocket / Upgrade tunnelling through an in-process proxy: tunnels spread over the pool like
// plain requests; a backend that does not switch protocols gets no tunnel (its answer is relayed, then the
// connection closes); `Upgrade: h2c` is refused (h2c smuggling).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { closeWebSockets, encodeClientFrame, openWebSockets, rawRequest, startTestBackend, waitFor } from '../helpers/index.js'
import { poolConfig, startProxy } from '../helpers/in-process.js'

test('100 concurrent WebSockets echo through the proxy, spread over all three backends', async (t) => {
  const names = ['a', 'b', 'c']
  const upgrades = new Map<string, number>(names.map((n) => [n, 0]))
  const backends = await Promise.all(names.map((name) => startTestBackend({ name })))
  for (const b of backends) {
    t.after(() => b.close())
    b.server.on('upgrade', () => upgrades.set(b.name, (upgrades.get(b.name) ?? 0) + 1))
  }
  const proxy = await startProxy(poolConfig(backends.map((b) => b.url)))
  t.after(() => proxy.close())

  const clients = await openWebSockets(`ws://127.0.0.1:${proxy.port}/ws`, 100, { timeoutMs: 15_000 })
  t.after(() => closeWebSockets(clients))
  assert.equal(clients.length, 100)
  const answers = await Promise.all(clients.map((c, i) => c.echo(`message ${i} ${'x'.repeat(i)}`, 15_000)))
  answers.forEach((answer, i) => assert.equal(answer, `message ${i} ${'x'.repeat(i)}`))

  const counts = names.map((n) => upgrades.get(n) ?? 0)
  assert.equal(counts.reduce((a, b) => a + b, 0), 100, `upgrades per backend: ${counts.join(', ')}`)
  for (const [i, n] of counts.entries()) assert.ok(n > 0, `backend ${names[i]} got no tunnel: ${counts.join(', ')}`)
  // No tunnel went through the plain request path.
  assert.equal(backends.reduce((sum, b) => sum + b.count(), 0), 0)
})

/** A raw TCP backend that answers any request head with a plain 200 and records every byte it receives. */
async function startRefusingBackend(): Promise<{ url: string; received: () => string; connections: () => number; close(): Promise<void> }> {
  let received = ''
  let connections = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    connections++
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    let answered = false
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1')
      if (!answered && received.includes('\r\n\r\n')) {
        answered = true
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nX-Backend: plain\r\n\r\nno websocket')
      }
    })
    socket.on('error', () => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    received: () => received,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      for (const s of sockets) s.destroy()
    }),
  }
}

test('a backend answering 200 to an upgrade: the client gets the 200, the connection closes, no tunnel opens', async (t) => {
  const backend = await startRefusingBackend()
  t.after(() => backend.close())
  const proxy = await startProxy(poolConfig([backend.url]))
  t.after(() => proxy.close())

  const socket = net.connect(proxy.port, '127.0.0.1')
  t.after(() => socket.destroy())
  let response = ''
  socket.on('data', (d: Buffer) => (response += d.toString('latin1')))
  socket.on('error', () => undefined)
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const frame = encodeClientFrame(1, 'SMUGGLED-FRAME-1')
  // The handshake and, eagerly, a first frame in the same packet (as a client that does not wait for 101).
  socket.write(Buffer.concat([
    Buffer.from('GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'),
    frame,
  ]))
  await waitFor(() => response.includes('no websocket'), { timeoutMs: 10_000, message: 'the backend\'s 200 relayed' })
  assert.match(response, /^HTTP\/1\.1 200 /)
  assert.match(response, /\r\nx-backend: plain\r\n/i)
  assert.doesNotMatch(response, /^HTTP\/1\.1 101/m)
  // Bytes sent after the refusal must go nowhere.
  if (!socket.destroyed) socket.write(encodeClientFrame(1, 'SMUGGLED-FRAME-2'))
  let timer: NodeJS.Timeout | undefined
  await Promise.race([closed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('connection not closed')), 10_000)))])
  clearTimeout(timer)

  const received = backend.received()
  const headEnd = received.indexOf('\r\n\r\n')
  assert.ok(headEnd > 0)
  assert.match(received.slice(0, headEnd), /^GET \/ws HTTP\/1\.1\r\n/)
  assert.equal(received.slice(headEnd + 4), '', 'nothing after the upgrade request reached the backend')
  assert.doesNotMatch(received, /SMUGGLED/)
  assert.equal(backend.connections(), 1)
})

test('Upgrade: h2c is refused with 400 and the connection closed', async (t) => {
  const backend = await startTestBackend({ name: 'a' })
  t.after(() => backend.close())
  let upgrades = 0
  backend.server.on('upgrade', () => upgrades++)
  const proxy = await startProxy(poolConfig([backend.url]))
  t.after(() => proxy.close())

  for (const [connection, upgrade] of [['Upgrade, HTTP2-Settings', 'h2c'], ['Upgrade', 'H2C'], ['Upgrade', 'websocket, h2c']]) {
    const r = await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: h\r\nConnection: ${connection}\r\nUpgrade: ${upgrade}\r\n` +
      'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n', { deadlineMs: 10_000 })
    assert.equal(r.status, 400, `${upgrade}: ${r.raw}`)
    assert.equal(r.closed, true)
    const body = JSON.parse(r.raw.slice(r.raw.indexOf('\r\n\r\n') + 4)) as { error?: unknown; requestId?: unknown }
    assert.equal(typeof body.error, 'string')
    assert.equal(typeof body.requestId, 'string')
  }
  // Without `Connection: upgrade` the header is hop-by-hop noise: the request is served, h2c never reaches the backend.
  const plain = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n')
  assert.equal(plain.status, 200, plain.raw)
  assert.equal(backend.requests.length, 1)
  assert.equal(backend.requests[0]?.headers.upgrade, undefined)
  assert.equal(upgrades, 0)
})
