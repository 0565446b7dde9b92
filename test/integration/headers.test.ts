// Header rewriting through an in-process proxy: hop-by-hop headers removed both ways (also those a
// sender names in `Connection`, which can never strip the balancer's own X-Forwarded-* / X-Request-Id),
// X-Forwarded-For appended to, X-Request-Id kept when valid and echoed, and bodies re-framed correctly.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import { rawRequest } from '../helpers/index.js'
import { poolConfig, startProxy } from '../helpers/in-process.js'

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

interface Captured {
  rawHeaders: string[]
  headers: http.IncomingHttpHeaders
  body: Buffer
}

/** A backend that records every request's headers and whole body, and answers 200 `ok`. */
async function startCaptureBackend(): Promise<{ url: string; seen: Captured[]; close(): Promise<void> }> {
  const seen: Captured[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      seen.push({ rawHeaders: req.rawHeaders, headers: req.headers, body: Buffer.concat(chunks) })
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' })
      res.end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}

/** A raw TCP backend that answers every request head (bodiless requests only) with `response` verbatim. */
async function startRawBackend(response: string): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    let buf = ''
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        buf = buf.slice(end + 4)
        socket.write(response)
      }
    })
    socket.on('error', () => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      for (const s of sockets) s.destroy()
    }),
  }
}

/** Header names (lower case) -> values of a raw response head. */
function responseHeaders(raw: string): Map<string, string[]> {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'))
  const map = new Map<string, string[]>()
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).toLowerCase()
    map.set(name, [...(map.get(name) ?? []), line.slice(colon + 1).trim()])
  }
  return map
}

test('Connection cannot strip the balancer\'s own headers; named headers are dropped', async (t) => {
  const backend = await startCaptureBackend()
  t.after(() => backend.close())
  const proxy = await startProxy(poolConfig([backend.url]))
  t.after(() => proxy.close())

  const r = await rawRequest(proxy.port, 'GET /a HTTP/1.1\r\nHost: app.example\r\n' +
    'Connection: X-Forwarded-For, X-Request-Id, X-Custom\r\n' +
    'X-Forwarded-For: 198.51.100.9\r\nX-Request-Id: client-chosen-id\r\nX-Custom: secret\r\nX-Kept: yes\r\n\r\n')
  assert.equal(r.status, 200, r.raw)
  assert.equal(backend.seen.length, 1)
  const h = backend.seen[0]?.headers ?? {}
  assert.equal(typeof h['x-forwarded-for'], 'string')
  assert.match(h['x-forwarded-for'] as string, /(^|, )127\.0\.0\.1$/, 'X-Forwarded-For ends with the client address')
  assert.equal(h['x-forwarded-proto'], 'http')
  assert.equal(h['x-forwarded-host'], 'app.example')
  assert.match(String(h['x-request-id']), REQUEST_ID)
  assert.equal(h['x-custom'], undefined, 'a header named in Connection is hop-by-hop')
  assert.equal(h['x-kept'], 'yes')
  assert.equal(h.connection === undefined || !/x-custom/i.test(h.connection), true)
  // The id the backend got is the one the client gets back.
  assert.equal(responseHeaders(r.raw).get('x-request-id')?.[0], h['x-request-id'])
})

test('hop-by-hop request headers never reach the backend', async (t) => {
  const backend = await startCaptureBackend()
  t.after(() => backend.close())
  const proxy = await startProxy(poolConfig([backend.url]))
  t.after(() => proxy.close())

  const r = await rawRequest(proxy.port, 'GET /hop HTTP/1.1\r\nHost: h\r\nKeep-Alive: timeout=99\r\nTE: trailers\r\n' +
    'Trailer: X-Checksum\r\nProxy-Connection: keep-alive\r\nUpgrade: foo/1\r\nX-End-To-End: 1\r\n\r\n')
  assert.equal(r.status, 200, r.raw)
  assert.equal(backend.seen.length, 1)
  const names = (backend.seen[0]?.rawHeaders ?? []).filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
  for (const hop of ['keep-alive', 'te', 'trailer', 'proxy-connection', 'upgrade']) {
    assert.equal(names.includes(hop), false, `${hop} forwarded: ${names.join(', ')}`)
  }
  assert.ok(names.includes('x-end-to-end'))
  const connection = backend.seen[0]?.headers.connection
  assert.ok(connection === undefined || /^(keep-alive|close)$/i.test(connection), `connection: ${connection}`)
})

test('X-Request-Id: a valid one is kept and echoed, an invalid one replaced', async (t) => {
  const backend = await startCaptureBackend()
  t.after(() => backend.close())
  const proxy = await startProxy(poolConfig([backend.url]))
  t.after(() => proxy.close())

  const valid = 'req-42.abc:DEF_9'
  const ok = await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: ${valid}\r\n\r\n`)
  assert.equal(ok.status, 200)
  assert.equal(backend.seen[0]?.headers['x-request-id'], valid)
  assert.deepEqual(responseHeaders(ok.raw).get('x-request-id'), [valid])

  for (const invalid of ['has spaces in it', 'x'.repeat(129), 'semi;colon', '']) {
    const before = backend.seen.length
    const r = await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: ${invalid}\r\n\r\n`)
    assert.equal(r.status, 200, r.raw)
    const got = backend.seen[before]?.headers['x-request-id']
    assert.match(String(got), REQUEST_ID)
    assert.notEqual(got, invalid)
    assert.deepEqual(responseHeaders(r.raw).get('x-request-id'), [got], 'the replacement is echoed')
  }

  // Without one, an id is generated, sent to the backend and echoed.
  const before = backend.seen.length
  const none = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: h\r\n\r\n')
  const generated = backend.seen[before]?.headers['x-request-id']
  assert.match(String(generated), REQUEST_ID)
  assert.deepEqual(responseHeaders(none.raw).get('x-request-id'), [generated])
})

test('X-Forwarded-For is appended to', async (t) => {
  const backend = await startCaptureBackend()
  t.after(() => backend.close())
  const proxy = await startProxy(poolConfig([backend.url]))
  t.after(() => proxy.close())

  await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n')
  assert.equal(backend.seen[0]?.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1')
  await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n\r\n')
  assert.equal(backend.seen[1]?.headers['x-forwarded-for'], '203.0.113.7, 10.0.0.1, 10.0.0.2, 127.0.0.1')
  await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: h\r\n\r\n')
  assert.equal(backend.seen[2]?.headers['x-forwarded-for'], '127.0.0.1')
})

test('hop-by-hop response headers from the backend do not reach the client', async (t) => {
  const backend = await startRawBackend('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: Foo, keep-alive\r\n' +
    'Foo: must-not-pass\r\nKeep-Alive: timeout=77, max=999\r\nProxy-Connection: keep-alive\r\nX-End: 1\r\n' +
    'Content-Length: 5\r\n\r\nhello')
  t.after(() => backend.close())
  const proxy = await startProxy(poolConfig([backend.url]))
  t.after(() => proxy.close())

  const r = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n')
  assert.equal(r.status, 200, r.raw)
  const h = responseHeaders(r.raw)
  assert.equal(h.has('foo'), false, r.raw)
  assert.equal(h.has('proxy-connection'), false, r.raw)
  assert.equal((h.get('keep-alive') ?? []).some((v) => /77|999/.test(v)), false, `backend Keep-Alive leaked: ${r.raw}`)
  assert.equal((h.get('connection') ?? []).some((v) => /foo/i.test(v)), false, r.raw)
  assert.deepEqual(h.get('x-end'), ['1'])
  assert.ok(r.raw.endsWith('\r\n\r\nhello'), r.raw)
})

test('request bodies are re-framed: chunked arrives framed and whole, Content-Length arrives unchanged', async (t) => {
  const backend = await startCaptureBackend()
  t.after(() => backend.close())
  const proxy = await startProxy(poolConfig([backend.url]))
  t.after(() => proxy.close())

  const parts = ['hello ', 'chunked ', 'x'.repeat(3000), ' world']
  const chunked = parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n'
  const r1 = await rawRequest(proxy.port, `POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`)
  assert.equal(r1.status, 200, r1.raw)
  const got1 = backend.seen[0]
  assert.ok(got1 !== undefined)
  assert.equal(got1.body.toString(), parts.join(''))
  const te = got1.headers['transfer-encoding']
  const cl = got1.headers['content-length']
  assert.ok(te === 'chunked' || cl === String(Buffer.byteLength(parts.join(''))), `framing: te=${te} cl=${cl}`)
  assert.ok(!(te !== undefined && cl !== undefined), 'never both Transfer-Encoding and Content-Length')

  const body = Buffer.from('0123456789'.repeat(1000))
  const r2 = await rawRequest(proxy.port, Buffer.concat([
    Buffer.from(`PUT /l HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n`), body,
  ]))
  assert.equal(r2.status, 200, r2.raw)
  const got2 = backend.seen[1]
  assert.equal(got2?.headers['content-length'], String(body.length))
  assert.equal(got2?.headers['transfer-encoding'], undefined)
  assert.equal(createHash('sha256').update(got2?.body ?? Buffer.alloc(0)).digest('hex'), createHash('sha256').update(body).digest('hex'))

  // An empty body keeps its explicit Content-Length: 0.
  const r3 = await rawRequest(proxy.port, 'POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n')
  assert.equal(r3.status, 200, r3.raw)
  assert.equal(backend.seen[2]?.headers['content-length'], '0')
  assert.equal(backend.seen[2]?.body.length, 0)
})
