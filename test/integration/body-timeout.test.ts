/**
 * `timeouts.body`: the time a response body may go without a byte from the backend. A body that stops
 * (after its head alone, after a first piece in the head's packet, chunked or with a length) is cut: the
 * client's connection closes before the body's end, and the try counts as a timeout. A body that keeps
 * coming, a byte at a time well within the limit, is not cut however long it takes in all. And the head of
 * a response whose body is slow to come reaches the client at once (an event stream, say). On both paths.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { httpRequest, rawRequest, waitFor } from '../helpers/index.js'
import { startAdminBalancer } from '../helpers/admin.js'

const BODY_MS = 400

/** Responses that stop or trickle; `open` keeps every stalled response so the test can end them. */
async function startBackend(): Promise<{ server: Server; url: string; open: Set<() => void> }> {
  const open = new Set<() => void>()
  const server = createServer((req, res) => {
    req.resume()
    const hold = (): void => {
      const end = (): void => void res.destroy()
      open.add(end)
      res.on('close', () => open.delete(end))
    }
    switch (req.url) {
      case '/head-only': // the head in a packet of its own, then nothing
        res.writeHead(200, { 'content-length': '10' })
        res.flushHeaders()
        return hold()
      case '/part': // head and half the body in one packet, then nothing
        res.writeHead(200, { 'content-length': '10' })
        res.write('hello')
        return hold()
      case '/chunked-part':
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('hello')
        return hold()
      case '/trickle': {
        // Six bytes, one every BODY_MS / 4: twice the limit in all, never that long without a byte.
        res.writeHead(200, { 'content-length': '6' })
        res.flushHeaders()
        let sent = 0
        const timer = setInterval(() => {
          res.write('x')
          if (++sent === 6) {
            clearInterval(timer)
            res.end()
          }
        }, BODY_MS / 4)
        res.on('close', () => clearInterval(timer))
        return
      }
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, open }
}

for (const mode of ['on', 'off'] as const) {
  test(`LB_FAST_PATH=${mode}: timeouts.body cuts a body that stops, never one that keeps coming`, { timeout: 60_000 }, async (t) => {
    const backend = await startBackend()
    t.after(() => {
      for (const end of backend.open) end()
      backend.server.close()
    })
    const lb = await startAdminBalancer(
      {
        listen: { host: '127.0.0.1' },
        workers: 1,
        pools: {
          p: {
            backends: [{ url: backend.url, id: 'b' }],
            healthCheck: { enabled: false },
            timeouts: { body: `${BODY_MS}ms` },
          },
        },
      },
      { env: { LB_FAST_PATH: mode } },
    )
    t.after(() => lb.stop('SIGKILL'))

    for (const [path, got] of [
      ['/head-only', ''],
      ['/part', 'hello'],
      ['/chunked-part', '5\r\nhello\r\n'],
    ] as const) {
      const sentAt = performance.now()
      const r = await rawRequest(lb.port, `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`, { deadlineMs: 15_000 })
      const ms = performance.now() - sentAt
      assert.equal(r.closed, true, `${path}: the connection closes`)
      assert.match(r.raw, /^HTTP\/1\.1 200 /, path)
      const body = r.raw.slice(r.raw.indexOf('\r\n\r\n') + 4)
      assert.equal(body, got, `${path}: the bytes before the stop, and no more`)
      assert.ok(ms >= BODY_MS - 50, `${path}: not cut before the limit (${ms.toFixed(0)} ms)`)
    }

    const trickled = await httpRequest(`http://127.0.0.1:${lb.port}/trickle`, { timeoutMs: 15_000 })
    assert.equal(trickled.status, 200)
    assert.equal(trickled.body, 'xxxxxx')

    const m = await lb.metrics()
    assert.equal(m.sum('lb_upstream_errors_total', { kind: 'timeout' }), 3)
  })
}

for (const mode of ['on', 'off'] as const) {
  test(`LB_FAST_PATH=${mode}: a response head goes to the client as it comes, before a body that is slow to follow`, { timeout: 60_000 }, async (t) => {
    let sendBody: (() => void) | undefined
    const server = createServer((req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.flushHeaders()
      sendBody = () => res.end('data: 1\n\n')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.after(() => server.close())
    const lb = await startAdminBalancer(
      {
        listen: { host: '127.0.0.1' },
        workers: 1,
        pools: { p: { backends: [{ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }], healthCheck: { enabled: false } } },
      },
      { env: { LB_FAST_PATH: mode } },
    )
    t.after(() => lb.stop('SIGKILL'))
    const socket = connect({ host: '127.0.0.1', port: lb.port })
    t.after(() => socket.destroy())
    let got = ''
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')))
    socket.write('GET /events HTTP/1.1\r\nhost: x\r\n\r\n')
    await waitFor(() => got.includes('\r\n\r\n'), { timeoutMs: 10_000 })
    assert.match(got, /^HTTP\/1\.1 200 [^]*content-type: text\/event-stream\r\n[^]*\r\n\r\n$/i)
    assert.ok(sendBody !== undefined)
    sendBody()
    await waitFor(() => got.endsWith('0\r\n\r\n'), { timeoutMs: 10_000 })
    assert.match(got, /\r\n\r\n9\r\ndata: 1\n\n\r\n0\r\n\r\n$/)
  })
}
