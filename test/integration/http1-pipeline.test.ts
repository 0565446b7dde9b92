// Pipelines, bodies behind pipelined requests, parse errors in a pipeline, and clients that never read, over
// real sockets through the balancer, on both listener implementations (own HTTP/1.1 code and node:http).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { completeResponseEnd } from '../helpers/index.js'
import { poolConfig, startProxy, type InProcessProxy } from '../helpers/in-process.js'
import { Http1Server } from '../../src/server/http1/index.js'

type Mode = 'own' | 'node'

interface Backend {
  url: string
  seen: string[]
  close(): void
}

/** `/api/slow` answers after 300 ms, `/api/stream` streams 64 MiB, everything else echoes its body at once. */
async function backend(onStreamClosed?: () => void): Promise<Backend> {
  const seen: string[] = []
  const server = http.createServer((req, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''}`)
    if (req.url === '/api/stream') {
      const chunk = Buffer.alloc(64 * 1024, 'x')
      let sent = 0
      res.on('close', () => onStreamClosed?.())
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const pump = (): void => {
        while (sent < 1024 && !res.destroyed) {
          sent++
          if (!res.write(chunk)) return void res.once('drain', pump)
        }
        if (!res.destroyed) res.end()
      }
      pump()
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const send = (): void => {
        res.writeHead(200, { 'content-length': String(body.length), 'x-path': req.url ?? '' })
        res.end(body)
      }
      if (req.url === '/api/slow') setTimeout(send, 300)
      else send()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    close: () => {
      server.closeAllConnections()
      server.close()
    },
  }
}

async function withProxy(mode: Mode, config: Record<string, unknown>, fn: (proxy: InProcessProxy) => Promise<void>): Promise<void> {
  const before = process.env.LB_HTTP1_SERVER
  if (mode === 'node') process.env.LB_HTTP1_SERVER = 'node'
  else delete process.env.LB_HTTP1_SERVER
  let proxy: InProcessProxy
  try {
    proxy = await startProxy(config)
  } finally {
    if (before === undefined) delete process.env.LB_HTTP1_SERVER
    else process.env.LB_HTTP1_SERVER = before
  }
  try {
    assert.equal(proxy.app.server instanceof Http1Server, mode === 'own')
    await fn(proxy)
  } finally {
    await proxy.close()
  }
}

/** Only `/api/` is routed: everything else is a 404 answered by the balancer itself, synchronously. */
function routedConfig(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return poolConfig([url], { routes: [{ match: { pathPrefix: '/api/' }, pool: 'main' }], ...extra })
}

/** Statuses of the complete responses in `buf`, in order. */
function statuses(buf: Buffer): number[] {
  const out: number[] = []
  let rest = buf
  for (;;) {
    const { end, status } = completeResponseEnd(rest)
    if (end < 0 || status === undefined) return out
    out.push(status)
    rest = rest.subarray(end)
  }
}

/**
 * A client connection: `send` writes raw bytes; `until` resolves with all bytes received once `count`
 * complete responses arrived, the server closed, or the deadline passed.
 */
function client(port: number): { socket: net.Socket; send(bytes: string | Buffer): void; until(count: number, deadlineMs?: number): Promise<{ buf: Buffer; closed: boolean }> } {
  const socket = net.connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  let closed = false
  const waiters = new Set<() => void>()
  socket.on('data', (c: Buffer) => {
    chunks.push(c)
    for (const w of waiters) w()
  })
  socket.on('error', () => {})
  socket.on('close', () => {
    closed = true
    for (const w of waiters) w()
  })
  return {
    socket,
    send: (bytes) => socket.write(bytes),
    until: (count, deadlineMs = 10_000) =>
      new Promise((resolve) => {
        const check = (): void => {
          const buf = Buffer.concat(chunks)
          if (closed || statuses(buf).length >= count) finish()
        }
        const finish = (): void => {
          clearTimeout(timer)
          waiters.delete(check)
          resolve({ buf: Buffer.concat(chunks), closed })
        }
        const timer = setTimeout(finish, deadlineMs)
        waiters.add(check)
        check()
      }),
  }
}

for (const mode of ['own', 'node'] as const) {
  test(`${mode} listener: 1000 pipelined requests answered synchronously behind a slow one are all answered, in order`, async () => {
    const be = await backend()
    try {
      await withProxy(mode, routedConfig(be.url), async (proxy) => {
        const c = client(proxy.port)
        let bytes = 'GET /api/slow HTTP/1.1\r\nHost: x\r\n\r\n'
        for (let i = 0; i < 1000; i++) bytes += `GET /none/${i} HTTP/1.1\r\nHost: x\r\n\r\n`
        c.send(bytes)
        const { buf } = await c.until(1001, 20_000)
        const got = statuses(buf)
        assert.equal(got.length, 1001, `answers: ${got.length}`)
        assert.equal(got[0], 200)
        assert.ok(got.slice(1).every((s) => s === 404), 'every queued request got its 404')
        // The connection is still usable afterwards, and nothing is left in flight: the drain is quick.
        c.send('GET /api/fast HTTP/1.1\r\nHost: x\r\n\r\n')
        const after = await c.until(1002, 5000)
        assert.equal(statuses(after.buf)[1001], 200)
        c.socket.destroy()
        const started = Date.now()
        await proxy.app.drain(5000)
        assert.ok(Date.now() - started < 2500, `drain took ${Date.now() - started} ms`)
      })
    } finally {
      be.close()
    }
  })
}

for (const mode of ['own', 'node'] as const) {
  test(`${mode} listener: a parse error in a pipeline is answered after the valid requests before it, then the connection closes`, async () => {
    const be = await backend()
    try {
      await withProxy(mode, routedConfig(be.url), async (proxy) => {
        for (const first of ['/api/a', '/api/slow']) {
          be.seen.length = 0
          const c = client(proxy.port)
          c.send(`GET ${first} HTTP/1.1\r\nHost: x\r\n\r\nPOST /api/b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET /api/c HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n`)
          const { buf, closed } = await c.until(4, 5000)
          c.socket.destroy()
          const text = buf.toString('latin1')
          assert.deepEqual(statuses(buf), [200, 200, 400], text)
          assert.match(text, new RegExp(`x-path: ${first}\\r\\n[^]*x-path: /api/b\\r\\n`, 'i'))
          assert.ok(closed, 'closed after the 400')
          assert.deepEqual(be.seen, [`GET ${first}`, 'POST /api/b'])
        }
        // Bad chunking in the body of a queued request: the 400 is its answer, after the slow one's.
        const c = client(proxy.port)
        c.send('GET /api/slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /api/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')
        const { buf, closed } = await c.until(3, 5000)
        c.socket.destroy()
        assert.deepEqual(statuses(buf), [200, 400], buf.toString('latin1'))
        assert.ok(closed)
      })
    } finally {
      be.close()
    }
  })
}

for (const mode of ['own', 'node'] as const) {
  test(`${mode} listener: the body of a pipelined request that arrives later is read, and both requests are answered`, async () => {
    const be = await backend()
    try {
      await withProxy(mode, routedConfig(be.url), async (proxy) => {
        const c = client(proxy.port)
        c.send('GET /api/slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n')
        const first = await c.until(1, 5000)
        assert.deepEqual(statuses(first.buf), [200])
        await new Promise((resolve) => setTimeout(resolve, 300))
        c.send('0123456789')
        const { buf, closed } = await c.until(2, 5000)
        const text = buf.toString('latin1')
        assert.deepEqual(statuses(buf), [200, 200], text)
        assert.ok(text.endsWith('\r\n\r\n0123456789'), text)
        assert.equal(closed, false)
        // The connection goes on.
        c.send('GET /api/again HTTP/1.1\r\nHost: x\r\n\r\n')
        assert.deepEqual(statuses((await c.until(3, 5000)).buf), [200, 200, 200])
        c.socket.destroy()
        // The body arrives while the first request is still being answered.
        const d = client(proxy.port)
        d.send('GET /api/slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n')
        await new Promise((resolve) => setTimeout(resolve, 100))
        d.send('abcdefghij')
        const early = await d.until(2, 5000)
        assert.deepEqual(statuses(early.buf), [200, 200], early.buf.toString('latin1'))
        assert.ok(early.buf.toString('latin1').endsWith('\r\n\r\nabcdefghij'))
        assert.equal(early.closed, false)
        d.socket.destroy()
      })
    } finally {
      be.close()
    }
  })
}

for (const mode of ['own', 'node'] as const) {
  test(`${mode} listener: a client that never reads its response is disconnected after limits.sendTimeout, which ends the backend's request`, async () => {
    let backendClosed = 0
    const be = await backend(() => backendClosed++)
    try {
      await withProxy(mode, routedConfig(be.url, { limits: { sendTimeout: '500ms' } }), async (proxy) => {
        const c = client(proxy.port)
        c.send('GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n')
        // Take the head, then read nothing more: the kernel buffers fill and the balancer's writes stall.
        await new Promise<void>((resolve) => c.socket.once('data', () => resolve()))
        c.socket.pause()
        const started = Date.now()
        while (backendClosed === 0 && Date.now() - started < 15_000) await new Promise((resolve) => setTimeout(resolve, 50))
        assert.equal(backendClosed, 1, "the backend's response was aborted")
        c.socket.destroy()
      })
    } finally {
      be.close()
    }
  })
}

for (const mode of ['own', 'node'] as const) {
  test(`${mode} listener: Expect: 100-continue is answered 100 only once the request is routed, allowed and sent on`, async () => {
    const be = await backend()
    try {
      await withProxy(mode, routedConfig(be.url, { limits: { maxBodySize: '1KiB' } }), async (proxy) => {
        // Routed and within limits: 100, then the body, then the answer.
        const ok = client(proxy.port)
        ok.send('POST /api/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n')
        await new Promise<void>((resolve) => ok.socket.once('data', () => resolve()))
        const interim = await ok.until(0, 100)
        assert.equal(interim.buf.toString('latin1'), 'HTTP/1.1 100 Continue\r\n\r\n')
        ok.send('hello')
        const answered = await ok.until(1, 5000)
        assert.match(answered.buf.toString('latin1'), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nhello$/)
        ok.socket.destroy()
        be.seen.length = 0
        // Refused before any try (no route, body too large): the final status without 100, then close.
        for (const [request, status] of [
          ['POST /nowhere HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n', 404],
          ['POST /api/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n', 413],
        ] as const) {
          const c = client(proxy.port)
          c.send(request)
          const { buf, closed } = await c.until(2, 5000)
          const text = buf.toString('latin1')
          assert.doesNotMatch(text, /100 Continue/, text)
          assert.deepEqual(statuses(buf), [status], text)
          assert.ok(closed, `closed after ${status}`)
          c.socket.destroy()
        }
        assert.deepEqual(be.seen, [])
      })
    } finally {
      be.close()
    }
  })
}

for (const mode of ['own', 'node'] as const) {
  test(`${mode} listener: connections closed after a response are released once the client closes too, with requests still queued or read`, async () => {
    const be = await backend()
    try {
      await withProxy(mode, routedConfig(be.url), async (proxy) => {
        const open = (): Promise<number> => new Promise((resolve, reject) => proxy.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))))
        const N = 20
        for (const [what, bytes, status] of [
          // Answered from its head alone (no route: 404) before llhttp refused its framing (a trailing HTAB after
          // `chunked`, which llhttp finds only once the head was handed over): no second answer, the close.
          ['a framing error found after a head-only answer', 'POST /none HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\t\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 404],
          // `Connection: close` answered by a backend while a request pipelined behind it waits unread.
          ['pipelined behind Connection: close', 'GET /api/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /api/a HTTP/1.1\r\nHost: x\r\n\r\n', 200],
        ] as const) {
          const clients = Array.from({ length: N }, () => client(proxy.port))
          for (const c of clients) c.send(bytes)
          const results = await Promise.all(clients.map((c) => c.until(2, 5000)))
          for (const { buf, closed } of results) {
            assert.deepEqual(statuses(buf), [status], `${what}: ${buf.toString('latin1')}`)
            assert.ok(closed, `${what}: the balancer closed the connection after the answer`)
          }
          // Every client saw the close and closed its side: nothing of these connections stays open (it used to
          // stay open with its socket, parser and descriptor: forever, or until the 60 s request deadline).
          const started = Date.now()
          let left = await open()
          while (left > 0 && Date.now() - started < 3000) {
            await new Promise((resolve) => setTimeout(resolve, 50))
            left = await open()
          }
          assert.equal(left, 0, `${what}: ${left} of ${N} connections still open ${Date.now() - started} ms after their clients closed`)
        }
      })
    } finally {
      be.close()
    }
  })
}
