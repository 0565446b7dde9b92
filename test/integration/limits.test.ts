// Client limits through an in-process proxy (docs/configuration.md `limits`): oversized heads -> 431,
// long targets -> 414, too many fields -> 431, bodies over maxBodySize -> 413 (by Content-Length and by a
// chunked body that grows past it). Each answer is the short JSON error and closes the connection, and a
// request just at each limit passes.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type net from 'node:net'
import { rawRequest, type RawResponse } from '../helpers/index.js'
import { poolConfig, startProxy, type InProcessProxy } from '../helpers/in-process.js'

const MAX_HEADER_BYTES = 16 * 1024
const MAX_URL = 8 * 1024
const MAX_COUNT = 100
const MAX_BODY = 64 * 1024

/** Sum the request guard compares with maxHeaderSize: name + value + 4 (`: ` and CRLF) per field. */
function headerBlock(fields: Array<[string, string]>): string {
  return fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')
}

/** `Host` plus one `X-Fill` field so that the fields total exactly `bytes` by the guard's count. */
function headersOfSize(bytes: number): string {
  const fixed = 'Host'.length + 'h'.length + 4 + 'X-Fill'.length + 4
  return headerBlock([['Host', 'h'], ['X-Fill', 'f'.repeat(bytes - fixed)]])
}

function assertJsonError(r: RawResponse, status: number, code: string): void {
  assert.equal(r.status, status, r.raw.slice(0, 300))
  assert.equal(r.closed, true, 'connection closed')
  const headEnd = r.raw.indexOf('\r\n\r\n')
  const head = r.raw.slice(0, headEnd)
  assert.match(head, /\r\ncontent-type: application\/json/i)
  const body = JSON.parse(r.raw.slice(headEnd + 4)) as { error?: unknown; code?: unknown; requestId?: unknown }
  assert.equal(typeof body.error, 'string')
  assert.equal(body.code, code)
  assert.equal(typeof body.requestId, 'string')
  assert.match(head, new RegExp(`\\r\\nx-request-id: ${String(body.requestId)}(\\r|$)`, 'i'), 'the header carries the same id')
}

describe('client limits', () => {
  let proxy: InProcessProxy
  let server: http.Server
  let seen = 0
  let lastBodyBytes = -1

  before(async () => {
    // A backend whose own parser takes heads up to 64 KiB, so that the balancer's limits are what is tested.
    server = http.createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
      seen++
      let n = 0
      req.on('data', (c: Buffer) => (n += c.length))
      req.on('end', () => {
        lastBodyBytes = n
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' })
        res.end('{}')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    proxy = await startProxy(poolConfig([`http://127.0.0.1:${port}`], {
      limits: { maxHeaderSize: '16KiB', maxHeaderCount: MAX_COUNT, maxUrlLength: '8KiB', maxBodySize: '64KiB' },
    }))
  })
  after(async () => {
    await proxy?.close()
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  })

  const send = (raw: string | Buffer): Promise<RawResponse> => rawRequest(proxy.port, raw, { timeoutMs: 300, deadlineMs: 20_000 })

  it('20 KiB of headers -> 431, JSON, closed; the backend sees nothing', async () => {
    const before = seen
    assertJsonError(await send(`GET / HTTP/1.1\r\n${headersOfSize(20 * 1024)}\r\n`), 431, 'LB_ERR_HEADERS_TOO_LARGE')
    assert.equal(seen, before)
  })

  it('a head far past the parser ceiling (64 KiB) -> 431 as well', async () => {
    assertJsonError(await send(`GET / HTTP/1.1\r\n${headersOfSize(64 * 1024)}\r\n`), 431, 'LB_ERR_HEADERS_TOO_LARGE')
  })

  it('headers exactly at maxHeaderSize pass', async () => {
    const before = seen
    const r = await send(`GET / HTTP/1.1\r\n${headersOfSize(MAX_HEADER_BYTES)}\r\n`)
    assert.equal(r.status, 200, r.raw.slice(0, 300))
    assert.equal(seen, before + 1)
    const over = await send(`GET / HTTP/1.1\r\n${headersOfSize(MAX_HEADER_BYTES + 1)}\r\n`)
    assertJsonError(over, 431, 'LB_ERR_HEADERS_TOO_LARGE')
  })

  it('a 20 KiB URL -> 414, JSON, closed', async () => {
    const before = seen
    assertJsonError(await send(`GET /${'u'.repeat(20 * 1024)} HTTP/1.1\r\nHost: h\r\n\r\n`), 414, 'LB_ERR_URI_TOO_LONG')
    assert.equal(seen, before)
  })

  it('a 64 KiB URL (past the parser ceiling) -> 414 as well', async () => {
    assertJsonError(await send(`GET /${'u'.repeat(64 * 1024)} HTTP/1.1\r\nHost: h\r\n\r\n`), 414, 'LB_ERR_URI_TOO_LONG')
  })

  it('a URL exactly at maxUrlLength passes, one byte more is 414', async () => {
    const ok = await send(`GET /${'u'.repeat(MAX_URL - 1)} HTTP/1.1\r\nHost: h\r\n\r\n`)
    assert.equal(ok.status, 200, ok.raw.slice(0, 300))
    assertJsonError(await send(`GET /${'u'.repeat(MAX_URL)} HTTP/1.1\r\nHost: h\r\n\r\n`), 414, 'LB_ERR_URI_TOO_LONG')
  })

  it('101 header fields -> 431; 100 pass', async () => {
    const fields = (n: number): string => headerBlock([['Host', 'h'], ...Array.from({ length: n - 1 }, (_, i): [string, string] => [`X-H${i}`, 'v'])])
    assertJsonError(await send(`GET / HTTP/1.1\r\n${fields(MAX_COUNT + 1)}\r\n`), 431, 'LB_ERR_HEADERS_TOO_LARGE')
    assertJsonError(await send(`GET / HTTP/1.1\r\n${fields(500)}\r\n`), 431, 'LB_ERR_HEADERS_TOO_LARGE')
    const ok = await send(`GET / HTTP/1.1\r\n${fields(MAX_COUNT)}\r\n`)
    assert.equal(ok.status, 200, ok.raw.slice(0, 300))
  })

  it('Content-Length over maxBodySize -> 413 before the backend sees anything', async () => {
    const before = seen
    for (const size of [MAX_BODY + 1, 4 * 1024 * 1024]) {
      const body = Buffer.alloc(size, 'b')
      const r = await send(Buffer.concat([Buffer.from(`POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n`), body]))
      assertJsonError(r, 413, 'LB_ERR_BODY_TOO_LARGE')
    }
    assert.equal(seen, before)
  })

  it('a body exactly at maxBodySize passes (Content-Length and chunked)', async () => {
    const body = Buffer.alloc(MAX_BODY, 'b')
    const r1 = await send(Buffer.concat([Buffer.from(`POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n`), body]))
    assert.equal(r1.status, 200, r1.raw.slice(0, 300))
    assert.equal(lastBodyBytes, MAX_BODY)
    const r2 = await send(Buffer.concat([Buffer.from('POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n'), chunked(body, 4096)]))
    assert.equal(r2.status, 200, r2.raw.slice(0, 300))
    assert.equal(lastBodyBytes, MAX_BODY)
  })

  it('a chunked body that grows past maxBodySize -> 413, closed', async () => {
    for (const size of [MAX_BODY + 1, 4 * 1024 * 1024]) {
      const r = await send(Buffer.concat([
        Buffer.from('POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n'),
        chunked(Buffer.alloc(size, 'c'), 4096),
      ]))
      assertJsonError(r, 413, 'LB_ERR_BODY_TOO_LARGE')
    }
  })
})

/** `data` as chunks of `size` bytes plus the last chunk. */
function chunked(data: Buffer, size: number): Buffer {
  const parts: Buffer[] = []
  for (let i = 0; i < data.length; i += size) {
    const part = data.subarray(i, i + size)
    parts.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from('0\r\n\r\n'))
  return Buffer.concat(parts)
}
