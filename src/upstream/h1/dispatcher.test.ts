import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Dispatcher } from 'undici'
import { Http1Dispatcher, loadResponseParser, type Http1DispatcherOptions } from './index.js'

interface Result {
  status: number
  headers: string[]
  body: string
  error?: string
}

/** Dispatches one request and collects what the handler hears, as undici's would. */
function request(d: Http1Dispatcher, opts: Partial<Dispatcher.DispatchOptions>, onData?: (chunk: Buffer, resume: () => void) => boolean): Promise<Result> {
  return new Promise((resolve) => {
    const out: Result = { status: 0, headers: [], body: '' }
    let resumeFn: () => void = () => undefined
    d.dispatch({ path: '/', method: 'GET', headers: [], body: null, ...opts } as Dispatcher.DispatchOptions, {
      onConnect() {},
      onHeaders(status: number, raw: Buffer[], resume: () => void) {
        if (status < 200) return true
        out.status = status
        out.headers = raw.map(String)
        resumeFn = resume
        return true
      },
      onData(chunk: Buffer) {
        out.body += chunk.toString('latin1')
        return onData === undefined ? true : onData(chunk, resumeFn)
      },
      onComplete() {
        resolve(out)
      },
      onError(err: Error) {
        resolve({ ...out, error: (err as { code?: string }).code ?? err.message })
      },
    } as Dispatcher.DispatchHandler)
  })
}

async function listen(t: TestContext, server: net.Server): Promise<URL> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    ;(server as http.Server).closeAllConnections?.()
    server.close()
  })
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
}

function dispatcher(t: TestContext, origin: URL, extra: Partial<Http1DispatcherOptions> = {}): Http1Dispatcher {
  const P = loadResponseParser()
  assert.ok(P !== undefined, 'Node exposes its llhttp binding')
  const d = new Http1Dispatcher(origin, P, { connectMs: 3000, headersMs: 5000, bodyMs: 5000, idleMs: 4000, maxConnections: 0, ...extra })
  t.after(() => d.destroy())
  return d
}

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) {
    await new Promise((r) => setImmediate(r))
    yield Buffer.from(p)
  }
}

describe('Http1Dispatcher (own upstream HTTP/1.1 connections)', () => {
  it('reuses one keep-alive connection for sequential requests and forwards heads and bodies', async (t) => {
    let connections = 0
    const seen: string[] = []
    const server = http.createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += String(c)))
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} host=${req.headers.host} te=${req.headers['transfer-encoding'] ?? '-'} cl=${req.headers['content-length'] ?? '-'} x=${req.headers['x-a'] ?? '-'} body=${body}`)
        res.setHeader('x-b', '2')
        res.end(`echo:${body}`)
      })
    })
    server.on('connection', () => connections++)
    const origin = await listen(t, server)
    const d = dispatcher(t, origin)
    const a = await request(d, { path: '/a?q=1', headers: ['Host', 'example.test', 'X-A', '1'] })
    assert.equal(a.status, 200)
    assert.equal(a.body, 'echo:')
    assert.ok(a.headers.includes('x-b'))
    const b = await request(d, { path: '/b', method: 'POST', headers: ['host', 'h', 'content-length', '5'], body: chunks('he', 'llo') as unknown as string })
    assert.equal(b.body, 'echo:hello')
    const c = await request(d, { path: '/c', method: 'POST', headers: [], body: chunks('x', 'yz') as unknown as string })
    assert.equal(c.body, 'echo:xyz')
    assert.deepEqual(seen, [
      'GET /a?q=1 host=example.test te=- cl=- x=1 body=',
      'POST /b host=h te=- cl=5 x=- body=hello',
      `POST /c host=${origin.host} te=chunked cl=- x=- body=xyz`,
    ])
    assert.equal(connections, 1, 'one keep-alive connection carried all three')
  })

  it('never completes upstream a request whose body ended short of its content-length', async (t) => {
    // What a retry sees when an earlier try already read the client's body: an iterator that ends at once.
    // Sent as a complete request (an empty POST), the backend would run what the client never sent.
    const seen: string[] = []
    const server = http.createServer((req, res) => {
      let n = 0
      req.on('data', (c: Buffer) => (n += c.length))
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${n}`)
        res.end('ok')
      })
    })
    const d = dispatcher(t, await listen(t, server))
    const empty = await request(d, { method: 'POST', path: '/empty', headers: ['content-length', '39'], body: chunks() as unknown as string })
    assert.equal(empty.error, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH')
    const short = await request(d, { method: 'POST', path: '/short', headers: ['content-length', '39'], body: chunks('abc') as unknown as string })
    assert.equal(short.error, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH')
    const long = await request(d, { method: 'PUT', path: '/long', headers: ['content-length', '2'], body: chunks('abc') as unknown as string })
    assert.equal(long.error, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH')
    assert.equal((await request(d, { path: '/after' })).body, 'ok')
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(seen, ['GET /after 0'])
  })

  it('never hands a response the backend sent unasked to the next request on the connection', async (t) => {
    // A backend that answers its first request twice in one packet: the extra response must not become
    // the answer to the request that waits for this connection (it gets a fresh connection instead).
    let first = true
    const server = net.createServer((socket) => {
      socket.on('data', () => {
        if (first) {
          first = false
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstray')
        } else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfresh')
      })
    })
    const d = dispatcher(t, await listen(t, server), { maxConnections: 1 })
    const [a, b] = await Promise.all([request(d, { path: '/a' }), request(d, { path: '/b' })])
    assert.equal(a.body, 'first')
    assert.equal(b.body, 'fresh')
  })

  it('forwards every body byte once, in order, wherever the packets from the backend split the head and the body', async (t) => {
    // Content-Length bodies go to the handler as slices of the packets (no per-chunk copy): the slices
    // must start right after the head and stop at the framed length whatever the packet boundaries.
    const body = 'ab\r\n\r\nHTTP/1.1 200 OK\r\n\r\ncd' // bytes that look like a head end and a status line
    const head = `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nx-a: 1\r\n\r\n`
    const whole = head + body
    const cases: Record<string, string[]> = {
      'one packet': [whole],
      'head split inside a line': [head.slice(0, 20), head.slice(20) + body],
      'head split inside its blank line': [head.slice(0, -2), head.slice(-2) + body],
      'body in three packets': [head, body.slice(0, 3), body.slice(3, 9), body.slice(9)],
      'head and the first body byte, then the rest': [head + body[0], body.slice(1)],
      '100 and the response in one packet': [`HTTP/1.1 100 Continue\r\n\r\n${whole}`],
      '103 with fields, then the response': [`HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n`, whole],
      '100, then the head and half the body': [`HTTP/1.1 100 Continue\r\n\r\n${head}${body.slice(0, 5)}`, body.slice(5)],
      'a blank line before the status line (llhttp skips it)': [`\r\n${whole}`],
      'empty body': ['HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'],
      'chunked body (through the parser\'s callback)': ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nab\r\n\r\n', `${(body.length - 4).toString(16)}\r\n${body.slice(4)}\r\n0\r\n\r\n`],
    }
    const expected: Record<string, string> = { 'empty body': '' }
    const server = net.createServer((socket) => {
      socket.setNoDelay(true)
      socket.on('data', async (data) => {
        const name = decodeURIComponent(/^GET \/(\S*)/.exec(data.toString('latin1'))?.[1] ?? '')
        for (const part of cases[name] ?? []) {
          socket.write(part)
          await new Promise((r) => setTimeout(r, 15))
        }
      })
    })
    const d = dispatcher(t, await listen(t, server))
    for (const name of Object.keys(cases)) {
      for (let i = 0; i < 2; i++) {
        const r = await request(d, { path: `/${encodeURIComponent(name)}` })
        assert.equal(r.error, undefined, name)
        assert.equal(r.status, 200, name)
        assert.equal(r.body, expected[name] ?? body, name)
      }
    }
    // A body far larger than a packet, read while the handler pauses the socket every time.
    const big = Buffer.alloc(2 * 1024 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 12)) & 0xff
    const bigServer = http.createServer((_req, res) => res.end(big))
    const d2 = dispatcher(t, await listen(t, bigServer))
    const received: Buffer[] = []
    const r = await request(d2, {}, (chunk, resume) => {
      received.push(Buffer.from(chunk))
      setImmediate(resume)
      return false
    })
    assert.equal(r.error, undefined)
    assert.ok(Buffer.concat(received).equals(big), 'the large body arrives byte for byte')
  })

  it('answers HEAD and 204 without waiting for a body', async (t) => {
    const server = http.createServer((req, res) => {
      if (req.url === '/204') {
        res.writeHead(204)
        return res.end()
      }
      res.writeHead(200, { 'content-length': '10' })
      res.end(req.method === 'HEAD' ? undefined : '0123456789')
    })
    const d = dispatcher(t, await listen(t, server))
    const head = await request(d, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.body, '')
    assert.equal((await request(d, { path: '/204' })).status, 204)
    assert.equal((await request(d, {})).body, '0123456789')
  })

  it('holds requests beyond maxConnections until a connection is free', async (t) => {
    let connections = 0
    const server = http.createServer((_req, res) => setTimeout(() => res.end('ok'), 50))
    server.on('connection', () => connections++)
    const d = dispatcher(t, await listen(t, server), { maxConnections: 2 })
    const all = Promise.all([1, 2, 3, 4, 5].map(() => request(d, {})))
    assert.equal(d.stats.pending, 3)
    const results = await all
    assert.deepEqual(results.map((r) => r.body), ['ok', 'ok', 'ok', 'ok', 'ok'])
    assert.equal(connections, 2)
    assert.equal(d.stats.pending, 0)
  })

  it('sends a request again on a fresh connection when a reused one closes before any response byte', async (t) => {
    // A backend that answers the first request on a connection and closes it silently at the second:
    // what a backend closing an idle keep-alive socket looks like to the request that reused it.
    let connections = 0
    const server = net.createServer((socket) => {
      connections++
      let requests = 0
      socket.on('data', (data: Buffer) => {
        const heads = data.toString('latin1').split('\r\n\r\n').length - 1
        for (let i = 0; i < heads; i++) {
          if (++requests === 2) return void socket.destroy()
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
        }
      })
    })
    const d = dispatcher(t, await listen(t, server))
    assert.equal((await request(d, {})).body, 'ok')
    const second = await request(d, { path: '/again' })
    assert.equal(second.error, undefined)
    assert.equal(second.body, 'ok')
    assert.equal(connections, 2)
  })

  it('retries a stale connection only once: a fresh connection that fails is an error', async (t) => {
    let requests = 0
    const server = net.createServer((socket) => {
      socket.on('data', () => {
        if (++requests === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
        else socket.destroy()
      })
    })
    const d = dispatcher(t, await listen(t, server))
    assert.equal((await request(d, {})).body, 'ok')
    assert.equal((await request(d, {})).error, 'UND_ERR_SOCKET')
    assert.equal(requests, 3, 'the reused connection, then one fresh one')
    // A request with a body already read from the client is never sent twice.
    assert.equal((await request(d, { method: 'POST', body: chunks('a') as unknown as string })).error, 'UND_ERR_SOCKET')
  })

  it('reports connect refusals, header timeouts and malformed responses with undici codes', async (t) => {
    const closed = net.createServer()
    const refusedAt = await listen(t, closed)
    closed.close()
    await new Promise((r) => setTimeout(r, 20))
    assert.equal((await request(dispatcher(t, refusedAt), {})).error, 'ECONNREFUSED')
    // A refused connection reads nothing of the body: the client's body stays whole for a retry elsewhere.
    let pulled = 0
    const body = (async function* () {
      pulled++
      yield Buffer.from('abc')
    })()
    const posted = await request(dispatcher(t, refusedAt), { method: 'POST', headers: ['content-length', '3'], body: body as unknown as string })
    assert.equal(posted.error, 'ECONNREFUSED')
    assert.equal(pulled, 0)

    const silent = net.createServer(() => undefined)
    const slow = dispatcher(t, await listen(t, silent), { headersMs: 100 })
    assert.equal((await request(slow, {})).error, 'UND_ERR_HEADERS_TIMEOUT')

    const garbage = net.createServer((s) => s.once('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab')))
    const bad = dispatcher(t, await listen(t, garbage))
    assert.equal((await request(bad, {})).error, 'UND_ERR_INVALID_RESPONSE')
  })

  it('times out a response body that stops, and closes idle connections after idleMs', async (t) => {
    let sockets = 0
    let open = 0
    const server = net.createServer((s) => {
      sockets++
      open++
      s.on('close', () => open--)
      s.on('data', (d: Buffer) => {
        if (d.toString().startsWith('GET /stall')) s.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc')
        else s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
      })
    })
    const d = dispatcher(t, await listen(t, server), { bodyMs: 100, idleMs: 100 })
    const stalled = await request(d, { path: '/stall' })
    assert.equal(stalled.error, 'UND_ERR_BODY_TIMEOUT')
    assert.equal(stalled.body, 'abc')
    assert.equal((await request(d, {})).body, 'ok')
    for (let i = 0; i < 100 && (open > 0 || d.stats.connected > 0); i++) await new Promise((r) => setTimeout(r, 20))
    assert.equal(open, 0, 'the idle connection was closed')
    assert.equal(d.stats.connected, 0)
    assert.equal(sockets, 2)
  })

  it('stops reading the backend while the handler is full, and resumes when told', async (t) => {
    const big = Buffer.alloc(4 * 1024 * 1024, 'x')
    const server = http.createServer((_req, res) => res.end(big))
    const d = dispatcher(t, await listen(t, server))
    let paused = 0
    const r = await request(d, {}, (_chunk, resume) => {
      paused++
      setTimeout(resume, 1)
      return false
    })
    assert.equal(r.body.length, big.length)
    assert.ok(paused > 1)
  })
})
