/**
 * The request/response contract every listener kind keeps (plain HTTP/1.1 on the balancer's own code and
 * on `node:http`, HTTP/1.1 over TLS, HTTP/2 over TLS, h2c), run over real sockets against a real backend:
 * status, headers and bodies (Content-Length and chunked, both ways), keep-alive, the JSON error shape
 * (and 400 + close for a malformed HTTP/1.1 request), X-Forwarded-*, and the graceful drain.
 * Use: `listenerConformance(kind)` from a test file, where `kind.start(backendUrl)` starts a balancer
 * whose only pool is that backend.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { openClient, rawExchange, startBackend, type ListenerKind, type ListenerUnderTest } from './listener-peers.suite.js'

export type { ListenerKind, ListenerUnderTest } from './listener-peers.suite.js'

/** Registers the contract's tests for `kind` (each starts its own backend and balancer). */
export function listenerConformance(kind: ListenerKind): void {
  const withBalancer = (name: string, body: (lb: ListenerUnderTest, backend: Awaited<ReturnType<typeof startBackend>>) => Promise<void>): void => {
    test(`${kind.name}: ${name}`, async (t) => {
      const backend = await startBackend()
      t.after(() => backend.close())
      const lb = await kind.start(backend.url)
      t.after(() => lb.close())
      await body(lb, backend)
    })
  }

  withBalancer('status, response headers and a Content-Length body are relayed; hop-by-hop headers are not', async (lb) => {
    const client = openClient(kind, lb.port)
    try {
      const ok = await client.send({ path: '/hello?x=1' })
      assert.equal(ok.status, 200)
      assert.equal(ok.headers['x-backend'], 'conf')
      assert.notEqual(ok.headers['keep-alive'], 'timeout=77')
      assert.equal(ok.headers['x-hop'], undefined)
      assert.match(String(ok.headers['x-request-id']), /^[A-Za-z0-9._:-]{1,128}$/)
      assert.equal(JSON.parse(ok.body).url, '/hello?x=1')
      const created = await client.send({ path: '/status/201' })
      assert.equal(created.status, 201)
    } finally {
      client.close()
    }
  })

  withBalancer('request bodies with a length and streamed without one reach the backend; a chunked response arrives whole', async (lb, backend) => {
    const client = openClient(kind, lb.port)
    try {
      const sized = await client.send({ method: 'POST', path: '/sized', body: 'x'.repeat(5000) })
      assert.equal(sized.status, 200)
      assert.equal(JSON.parse(sized.body).body, 'x'.repeat(5000))
      const streamed = await client.send({ method: 'POST', path: '/streamed', body: ['alpha-', 'beta-', 'gamma'] })
      assert.equal(streamed.status, 200)
      assert.equal(JSON.parse(streamed.body).body, 'alpha-beta-gamma')
      const chunked = await client.send({ path: '/chunked' })
      assert.equal(chunked.status, 200)
      assert.equal(chunked.body, 'one,two,three')
      assert.deepEqual(backend.seen.map((s) => s.method + ' ' + s.url), ['POST /sized', 'POST /streamed', 'GET /chunked'])
    } finally {
      client.close()
    }
  })

  withBalancer('keep-alive: several requests share one connection', async (lb) => {
    const client = openClient(kind, lb.port)
    try {
      for (let i = 0; i < 5; i++) assert.equal((await client.send({ path: `/k/${i}` })).status, 200)
      assert.equal(client.connections(), 1)
    } finally {
      client.close()
    }
  })

  withBalancer('X-Forwarded-For, -Proto and -Host are set from the connection and the request', async (lb, backend) => {
    const client = openClient(kind, lb.port)
    try {
      assert.equal((await client.send({ path: '/fwd', headers: { 'x-request-id': 'conformance-1' } })).status, 200)
    } finally {
      client.close()
    }
    const h = backend.seen[0]?.headers ?? {}
    assert.equal(h['x-forwarded-for'], '127.0.0.1')
    assert.equal(h['x-forwarded-proto'], kind.secure ? 'https' : 'http')
    assert.equal(h['x-forwarded-host'], 'conf.test')
    assert.equal(h['x-request-id'], 'conformance-1')
  })

  withBalancer('a refused request gets the JSON error shape (414 for a URL past the limit)', async (lb, backend) => {
    const client = openClient(kind, lb.port)
    try {
      const r = await client.send({ path: `/${'a'.repeat(9 * 1024)}` })
      assert.equal(r.status, 414)
      assert.match(String(r.headers['content-type']), /^application\/json/)
      const body = JSON.parse(r.body) as { error?: unknown; code?: unknown; requestId?: unknown }
      assert.equal(body.code, 'LB_ERR_URI_TOO_LONG')
      assert.equal(typeof body.error, 'string')
      assert.equal(body.requestId, r.headers['x-request-id'])
      assert.equal(backend.seen.length, 0)
    } finally {
      client.close()
    }
  })

  if (kind.protocol === 'http/1.1') {
    withBalancer('a malformed request (Content-Length and Transfer-Encoding) gets 400 with the JSON shape, then the connection closes', async (lb, backend) => {
      const raw = 'POST /bad HTTP/1.1\r\nHost: conf.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
      const { text, closed } = await rawExchange(kind, lb.port, raw)
      assert.ok(text.startsWith('HTTP/1.1 400 Bad Request\r\n'), `status line: ${JSON.stringify(text.slice(0, 40))}`)
      assert.match(text, /\r\ncontent-type: application\/json/i)
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { code?: unknown }
      assert.equal(body.code, 'LB_ERR_AMBIGUOUS_FRAMING')
      assert.equal(closed, true)
      assert.equal(backend.seen.length, 0)
    })
  }

  if (kind.protocol === 'http/1.1') {
    withBalancer('a parse error in a pipeline is answered after the valid requests before it, then the connection closes', async (lb, backend) => {
      const head = 'HTTP/1.1\r\nHost: conf.test\r\n'
      const raw = `GET /slow ${head}\r\nGET /fast ${head}\r\nGET /bad ${head}Content-Length: x\r\n\r\n`
      const { text, closed } = await rawExchange(kind, lb.port, raw)
      assert.deepEqual(text.match(/HTTP\/1\.1 \d{3} [^\r]*/g), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 400 Bad Request'], text)
      assert.match(text, /"url":"\/slow"[^]*"url":"\/fast"/)
      assert.equal(closed, true)
      assert.deepEqual(backend.seen.map((s) => s.url), ['/slow', '/fast'])
    })
  }

  withBalancer('drain: a request in flight finishes with 200, new connections are refused, drain resolves', async (lb, backend) => {
    const client = openClient(kind, lb.port)
    try {
      const inFlight = client.send({ path: '/slow' })
      const deadline = Date.now() + 5000
      while (backend.seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      // The backend answers /slow only after its body ended: the request is in flight now.
      await new Promise((r) => setTimeout(r, 50))
      const drained = lb.drain(10_000)
      const answer = await inFlight
      assert.equal(answer.status, 200)
      assert.equal(JSON.parse(answer.body).url, '/slow')
      if (kind.protocol === 'http/1.1') assert.equal(answer.headers.connection, 'close')
      await drained
      const refused = await new Promise<string>((resolve) => {
        const s = net.connect(lb.port, '127.0.0.1')
        s.on('connect', () => {
          s.destroy()
          resolve('connected')
        })
        s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'))
      })
      assert.equal(refused, 'ECONNREFUSED')
    } finally {
      client.close()
    }
  })
}
