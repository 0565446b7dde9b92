// Upgraded connections: the request target reaches the backend in origin form (an absolute-form target is
// converted as for plain requests), and `timeouts.tunnelIdle` closes tunnels idle in both directions.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { waitFor } from '../helpers/index.js'
import { poolConfig, startProxy } from '../helpers/in-process.js'

interface SwitchingBackend {
  url: string
  /** Request heads received, in order. */
  heads: string[]
  /** Bytes received after each tunnel's head. */
  tunnelBytes: () => string
  /** Sockets of open tunnels (to write from the backend side). */
  sockets: Set<net.Socket>
}

/** A raw backend that answers every upgrade with 101 and keeps the tunnel open, recording what it gets. */
async function startSwitchingBackend(t: TestContext): Promise<SwitchingBackend> {
  const heads: string[] = []
  let tunnel = ''
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    let buf = ''
    let switched = false
    socket.on('data', (d: Buffer) => {
      if (switched) {
        tunnel += d.toString('latin1')
        return
      }
      buf += d.toString('latin1')
      const end = buf.indexOf('\r\n\r\n')
      if (end === -1) return
      heads.push(buf.slice(0, end))
      tunnel += buf.slice(end + 4)
      switched = true
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x-test\r\n\r\n')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy()
    server.close(() => resolve())
  }))
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, heads, tunnelBytes: () => tunnel, sockets }
}

/** Opens a raw upgraded connection through the proxy; resolves once the 101 arrived. */
async function openTunnel(t: TestContext, port: number, target: string): Promise<{ socket: net.Socket; received: () => string; closed: Promise<number> }> {
  const socket = net.connect(port, '127.0.0.1')
  t.after(() => socket.destroy())
  let received = ''
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')))
  socket.on('error', () => undefined)
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())))
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.write(`GET ${target} HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\nUpgrade: x-test\r\n\r\n`)
  await waitFor(() => received.includes('\r\n\r\n'), { timeoutMs: 5000, message: 'the 101' })
  assert.match(received, /^HTTP\/1\.1 101 /)
  return { socket, received: () => received, closed }
}

test('an upgrade request in absolute form reaches the backend in origin form, like a plain request', async (t) => {
  const backend = await startSwitchingBackend(t)
  const proxy = await startProxy(poolConfig([backend.url]))
  t.after(() => proxy.close())

  const tunnel = await openTunnel(t, proxy.port, 'http://example.test/chat/room?x=1')
  await waitFor(() => backend.heads.length === 1, { timeoutMs: 5000 })
  assert.match(backend.heads[0] ?? '', /^GET \/chat\/room\?x=1 HTTP\/1\.1\r\n/)
  // The tunnel works after the conversion.
  tunnel.socket.write('ping')
  await waitFor(() => backend.tunnelBytes() === 'ping', { timeoutMs: 5000, message: 'bytes through the tunnel' })
})

test('an absolute-form upgrade matches routes by its path, not by the whole URL', async (t) => {
  const backend = await startSwitchingBackend(t)
  const other = await startSwitchingBackend(t)
  const proxy = await startProxy({
    ...poolConfig([backend.url]),
    pools: {
      main: { backends: [{ url: backend.url }], healthCheck: { enabled: false } },
      other: { backends: [{ url: other.url }], healthCheck: { enabled: false } },
    },
    routes: [
      { name: 'chat', match: { pathPrefix: '/chat' }, pool: 'main' },
      { name: 'rest', match: { pathPrefix: '/' }, pool: 'other' },
    ],
  })
  t.after(() => proxy.close())
  await openTunnel(t, proxy.port, 'http://example.test/chat')
  await waitFor(() => backend.heads.length === 1, { timeoutMs: 5000 })
  assert.equal(other.heads.length, 0)
  assert.match(backend.heads[0] ?? '', /^GET \/chat HTTP\/1\.1\r\n/)
})

test('timeouts.tunnelIdle closes a tunnel idle in both directions; traffic either way keeps it open', async (t) => {
  const backend = await startSwitchingBackend(t)
  const proxy = await startProxy({
    ...poolConfig([backend.url]),
    pools: { main: { backends: [{ url: backend.url }], healthCheck: { enabled: false }, timeouts: { tunnelIdle: '400ms' } } },
  })
  t.after(() => proxy.close())

  // Idle: closed after about 400 ms (generous upper bound for a loaded machine).
  const idle = await openTunnel(t, proxy.port, '/idle')
  const openedAt = performance.now()
  let timer: NodeJS.Timeout | undefined
  const closedAt = await Promise.race([idle.closed, new Promise<number>((_, reject) => (timer = setTimeout(() => reject(new Error('idle tunnel not closed')), 10_000)))])
  clearTimeout(timer)
  assert.ok(closedAt - openedAt >= 300, `closed after ${Math.round(closedAt - openedAt)} ms, before the idle time`)

  // Client -> backend traffic only, then backend -> client only: each keeps the tunnel open past the idle time.
  const busy = await openTunnel(t, proxy.port, '/busy')
  let busyClosed = false
  void busy.closed.then(() => (busyClosed = true))
  await waitFor(() => backend.sockets.size === 1, { timeoutMs: 5000 })
  const [backendSide] = [...backend.sockets]
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 150))
    assert.equal(busyClosed, false, `closed after ${i} client writes`)
    busy.socket.write('c')
  }
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 150))
    assert.equal(busyClosed, false, `closed after ${i} backend writes`)
    backendSide?.write('b')
  }
  await waitFor(() => backend.tunnelBytes().length === 8 && busy.received().endsWith('bbbbbbbb'), { timeoutMs: 5000, message: 'the bytes of both directions' })
  // Then silence: it closes.
  await Promise.race([busy.closed, new Promise<number>((_, reject) => (timer = setTimeout(() => reject(new Error('tunnel not closed once idle')), 10_000)))])
  clearTimeout(timer)
})
