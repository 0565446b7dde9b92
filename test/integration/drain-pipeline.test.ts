// While the balancer shuts down, a response goes out with `Connection: close`: the connection ends after it.
// Bytes the client sends meanwhile (here a request line node:http cannot parse) are not answered: a 400
// written after that response would be read by the client as the answer to a request it never made.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { waitFor } from '../helpers/index.js'
import { poolConfig, startProxy } from '../helpers/in-process.js'

/** A backend that holds its answers: `sendHead()` sends the head and part of the body, `release()` the rest. */
async function startHeldBackend(): Promise<{ url: string; received: () => number; sendHead: () => void; release: () => void; close: () => Promise<void> }> {
  let received = 0
  const held: http.ServerResponse[] = []
  const server = http.createServer((_req, res) => {
    received++
    held.push(res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    received: () => received,
    sendHead: () => {
      for (const res of held) {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '4' })
        res.write('he')
      }
    },
    release: () => {
      for (const res of held.splice(0)) res.end('ld')
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

test('node:http listener, shutting down: a parse error after a response sent with Connection: close is not answered', async (t) => {
  const backend = await startHeldBackend()
  t.after(() => backend.close())
  const previous = process.env.LB_HTTP1_SERVER
  process.env.LB_HTTP1_SERVER = 'node'
  const lb = await startProxy(poolConfig([backend.url], { log: { accessLog: false } })).finally(() => {
    if (previous === undefined) delete process.env.LB_HTTP1_SERVER
    else process.env.LB_HTTP1_SERVER = previous
  })
  t.after(() => lb.close())

  const socket = net.connect(lb.port, '127.0.0.1')
  t.after(() => socket.destroy())
  let raw = ''
  socket.on('data', (d: Buffer) => (raw += d.toString('latin1')))
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.write('GET /held HTTP/1.1\r\nHost: a\r\n\r\n')
  await waitFor(() => backend.received() === 1, { timeoutMs: 5000, message: 'the request reached the backend' })
  // Shutting down from now on (the flag a drain sets first; the drain itself would also close the listener
  // on a short deadline): the response head, formed when the backend's head arrives, closes the connection.
  lb.app.runtime.shuttingDown = true
  backend.sendHead()
  await waitFor(() => raw.includes('\r\n\r\nhe'), { timeoutMs: 5000, message: 'the response head and first body bytes' })
  assert.match(raw, /\r\nconnection: close\r\n/i)
  socket.write('NOT A REQUEST\r\n\r\n')
  // Let the listener see the bad bytes before the response finishes.
  await new Promise((resolve) => setTimeout(resolve, 200))
  backend.release()
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error(`connection still open: ${raw}`)), 5000))])
  assert.deepEqual([...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]), ['200'], raw)
  assert.ok(raw.endsWith('\r\n\r\nheld'), `the response ends the connection: ${JSON.stringify(raw.slice(-80))}`)
})
