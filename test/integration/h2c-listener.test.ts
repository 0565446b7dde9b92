/**
 * `listen.h2c`: the plain port serves HTTP/2 with prior knowledge and HTTP/1.1 side by side, with both
 * HTTP/1.1 implementations (the balancer's own and `node:http`).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import net from 'node:net'
import { httpRequest, startTestBackend } from '../helpers/index.js'
import { startProxy } from '../helpers/in-process.js'

/** Sends `bytes` one byte per write and resolves with everything received until the server closes. */
function trickle(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let out = ''
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => (out += d))
    socket.on('error', reject)
    socket.on('close', () => resolve(out))
    socket.on('connect', async () => {
      for (const ch of bytes) {
        socket.write(ch)
        await new Promise((r) => setTimeout(r, 2))
      }
    })
  })
}

for (const impl of ['own', 'node'] as const) {
  test(`h2c and HTTP/1.1 on one plain port (${impl} HTTP/1.1 code)`, async (t) => {
    const backend = await startTestBackend({ name: 'h' })
    t.after(() => backend.close())
    const saved = process.env.LB_HTTP1_SERVER
    if (impl === 'node') process.env.LB_HTTP1_SERVER = 'node'
    else delete process.env.LB_HTTP1_SERVER
    const lb = await startProxy({
      workers: 1,
      listen: { h2c: true },
      pools: { main: { backends: [{ url: backend.url }], healthCheck: { enabled: false } } },
    }).finally(() => {
      if (saved === undefined) delete process.env.LB_HTTP1_SERVER
      else process.env.LB_HTTP1_SERVER = saved
    })
    t.after(() => lb.close())

    // HTTP/1.1: keep-alive requests, one with a body.
    for (let i = 0; i < 3; i++) {
      const r = await httpRequest(`${lb.url}/one/${i}`, { method: 'POST', body: `body-${i}` })
      assert.equal(r.status, 200)
      assert.equal(JSON.parse(r.body).url, `/one/${i}`)
    }
    // HTTP/1.1 sent a byte at a time: "P" could start the HTTP/2 preface, "PO" cannot.
    const slow = await trickle(lb.port, 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi')
    assert.match(slow, /^HTTP\/1\.1 200 /)
    assert.match(slow, /"url":"\/slow"/)

    // HTTP/2 with prior knowledge on the same port: several streams on one session.
    const session = http2.connect(lb.url)
    t.after(() => session.close())
    const answers = await Promise.all(
      [0, 1, 2].map(
        (i) =>
          new Promise<{ status: number; body: string }>((resolve, reject) => {
            const stream = session.request({ ':method': 'GET', ':path': `/two/${i}` }, { endStream: true })
            let body = ''
            let status = 0
            stream.setEncoding('utf8')
            stream.on('response', (h) => (status = Number(h[':status'])))
            stream.on('data', (d: string) => (body += d))
            stream.on('end', () => resolve({ status, body }))
            stream.on('error', reject)
          }),
      ),
    )
    assert.deepEqual(answers.map((a) => [a.status, JSON.parse(a.body).url]), [[200, '/two/0'], [200, '/two/1'], [200, '/two/2']])
  })
}

test('protocol h2c: requests share HTTP/2 sessions, a new one opening only when the backend\'s max concurrent streams are taken', async (t) => {
  const sessions = new Set<unknown>()
  let open = 0
  let maxOpen = 0
  const backend = http2.createServer({ settings: { maxConcurrentStreams: 2 } }, (req, res) => {
    sessions.add(req.stream.session)
    open++
    maxOpen = Math.max(maxOpen, open)
    setTimeout(() => {
      open--
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok ${req.url}`)
    }, 300)
  })
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => backend.close(() => resolve())))
  const port = (backend.address() as { port: number }).port
  const lb = await startProxy({
    workers: 1,
    pools: { main: { protocol: 'h2c', backends: [{ url: `http://127.0.0.1:${port}` }], healthCheck: { enabled: false } } },
  })
  t.after(() => lb.close())
  // Warm up one session, so that the backend's SETTINGS are known before the burst.
  assert.equal((await httpRequest(`${lb.url}/warm`)).status, 200)
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => httpRequest(`${lb.url}/r${i}`)))
  assert.deepEqual(results.map((r) => r.body), Array.from({ length: 6 }, (_, i) => `ok /r${i}`))
  assert.equal(maxOpen, 6, 'all six were in flight at once')
  assert.equal(sessions.size, 3, 'three sessions of two streams each')
})
