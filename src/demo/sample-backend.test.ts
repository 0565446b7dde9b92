import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import { test } from 'node:test'
import { httpGet, httpRequest, rawRequest } from '../../test/helpers/net.js'
import { encodeClientFrame, openRawWebSocket, openWebSocket } from '../../test/helpers/ws.js'
import { expectedDownloadSha256, startSampleBackend, startSampleBackends } from './sample-backend.js'

const json = (body: string): Record<string, unknown> => JSON.parse(body) as Record<string, unknown>

test('sample backend', { timeout: 120_000 }, async (t) => {
  const b = await startSampleBackend({ name: 'alpha' })
  t.after(() => b.stop())
  assert.equal(b.url, `http://127.0.0.1:${b.port}`)

  await t.test('GET /api/health and /api/test', async () => {
    const health = await httpGet(`${b.url}/api/health`)
    assert.equal(health.status, 200)
    assert.equal(health.headers['x-backend'], 'alpha')
    assert.deepEqual(json(health.body), { status: 'ok', backend: 'alpha' })
    const api = await httpGet(`${b.url}/api/test`)
    assert.equal(api.status, 200)
    assert.equal(json(api.body).backend, 'alpha')
    assert.equal(typeof json(api.body).message, 'string')
    assert.equal((await httpRequest(`${b.url}/api/health`, { method: 'POST' })).status, 405)
  })

  await t.test('/echo returns method, url, headers and body', async () => {
    const res = await httpRequest(`${b.url}/echo?x=1`, { method: 'PUT', headers: { 'x-test': 'yes' }, body: 'héllo' })
    assert.equal(res.status, 200)
    assert.equal(res.headers['x-backend'], 'alpha')
    const body = json(res.body)
    assert.equal(body.method, 'PUT')
    assert.equal(body.url, '/echo?x=1')
    assert.equal(body.body, 'héllo')
    assert.equal((body.headers as Record<string, string>)['x-test'], 'yes')
    const big = await httpRequest(`${b.url}/echo`, { method: 'POST', body: Buffer.alloc(1024 * 1024 + 1, 'a') })
    assert.equal(big.status, 413)
  })

  await t.test('/delay/:ms waits, validates the range', async () => {
    const start = performance.now()
    const res = await httpGet(`${b.url}/delay/120`)
    assert.equal(res.status, 200)
    assert.ok(performance.now() - start >= 100)
    assert.equal((await httpGet(`${b.url}/delay/60001`)).status, 400)
    assert.equal((await httpGet(`${b.url}/delay/abc`)).status, 400)
  })

  await t.test('/status/:code answers that status, validates 100..599', async () => {
    for (const code of [200, 201, 404, 500, 503, 599]) {
      const res = await httpGet(`${b.url}/status/${code}`)
      assert.equal(res.status, code)
      assert.equal(res.headers['x-backend'], 'alpha')
    }
    const noContent = await httpGet(`${b.url}/status/204`)
    assert.equal(noContent.status, 204)
    assert.equal(noContent.body, '')
    assert.equal((await httpGet(`${b.url}/status/103`)).status, 200)
    for (const bad of ['99', '600', '101', 'x', '2000']) assert.equal((await httpGet(`${b.url}/status/${bad}`)).status, 400, bad)
  })

  await t.test('/bytes/:n streams n bytes with content-length', async () => {
    const res = await httpGet(`${b.url}/bytes/1000003`)
    assert.equal(res.status, 200)
    assert.equal(res.headers['content-length'], '1000003')
    assert.equal(res.body.length, 1000003)
    assert.equal((await httpGet(`${b.url}/bytes/0`)).body, '')
    assert.equal((await httpGet(`${b.url}/bytes/1073741825`)).status, 400)
  })

  await t.test('unknown paths are 404 JSON with x-backend', async () => {
    const res = await httpGet(`${b.url}/nope`)
    assert.equal(res.status, 404)
    assert.equal(res.headers['x-backend'], 'alpha')
    assert.equal(json(res.body).error, 'not found')
  })

  await t.test('keep-alive: the connection stays open after a response', async () => {
    const res = await rawRequest(b.port, 'GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 300 })
    assert.equal(res.status, 200)
    assert.equal(res.closed, false)
    assert.match(res.raw, /x-backend: alpha/i)
  })

  await t.test('POST /upload hashes a 50 MiB streamed body', async () => {
    const chunk = Buffer.alloc(1024 * 1024)
    const hash = createHash('sha256')
    const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${b.url}/upload`, { method: 'POST' }, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (s: string) => (body += s))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.on('error', reject)
      let i = 0
      const write = (): void => {
        while (i < 50) {
          chunk.fill(i++)
          hash.update(chunk)
          if (!req.write(Buffer.from(chunk))) return void req.once('drain', write)
        }
        req.end()
      }
      write()
    })
    assert.equal(result.status, 200)
    assert.deepEqual(json(result.body), { backend: 'alpha', bytes: 50 * 1024 * 1024, sha256: hash.digest('hex') })
  })

  await t.test('GET /download/:n matches expectedDownloadSha256', async () => {
    for (const n of [0, 5, 65536, 3_000_017]) {
      const { status, headers, sha256, bytes } = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; sha256: string; bytes: number }>(
        (resolve, reject) => {
          http.get(`${b.url}/download/${n}`, (res) => {
            const hash = createHash('sha256')
            let bytes = 0
            res.on('data', (c: Buffer) => {
              bytes += c.length
              hash.update(c)
            })
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, sha256: hash.digest('hex'), bytes }))
          }).on('error', reject)
        },
      )
      assert.equal(status, 200)
      assert.equal(headers['content-length'], String(n))
      assert.equal(bytes, n)
      assert.equal(sha256, expectedDownloadSha256(n), `n=${n}`)
    }
    assert.notEqual(expectedDownloadSha256(200_000), expectedDownloadSha256(200_001))
  })

  await t.test('WebSocket echo: text, binary, 200 KiB', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${b.port}/ws`)
    t.after(() => ws.close())
    assert.equal(await ws.echo('hello'), 'hello')
    const bin = Buffer.from([0, 1, 2, 255])
    assert.deepEqual(await ws.echo(bin), bin)
    const big = Buffer.alloc(200 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff
    assert.deepEqual(await ws.echo(big, 10_000), big)
    const text = 'ü'.repeat(100_000)
    assert.equal(await ws.echo(text, 10_000), text)
    const closed = await ws.close(1000, 'bye')
    assert.equal(closed.code, 1000)
    assert.equal(closed.wasClean, true)
  })

  await t.test('WebSocket ping/pong and close handshake (raw frames)', async () => {
    const raw = await openRawWebSocket(b.port)
    t.after(() => raw.socket.destroy())
    assert.match(raw.handshake, /x-backend: alpha/i)
    raw.write(encodeClientFrame(0x9, 'are you there'))
    const pong = await raw.nextFrame()
    assert.equal(pong.opcode, 0xa)
    assert.equal(pong.payload.toString(), 'are you there')
    const code = Buffer.alloc(2)
    code.writeUInt16BE(1000)
    raw.write(encodeClientFrame(0x8, code))
    const close = await raw.nextFrame()
    assert.equal(close.opcode, 0x8)
    assert.equal(close.payload.readUInt16BE(0), 1000)
    await raw.ended
  })

  await t.test('stop() closes idle keep-alive sockets', async () => {
    const other = await startSampleBackend({ name: 'beta' })
    const agent = new http.Agent({ keepAlive: true })
    t.after(() => agent.destroy())
    assert.equal((await httpGet(`${other.url}/api/health`, {}, { agent })).status, 200)
    const start = performance.now()
    await other.stop()
    assert.ok(performance.now() - start < 1000, 'stop waited for an idle socket')
  })
})

test('startSampleBackends falls back to an ephemeral port when one is taken', { timeout: 30_000 }, async (t) => {
  const blocker = net.createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()))
  t.after(() => blocker.close())
  const taken = (blocker.address() as net.AddressInfo).port
  const backends = await startSampleBackends(2, taken)
  t.after(() => Promise.all(backends.map((b) => b.stop())))
  assert.deepEqual(backends.map((b) => b.name), ['backend-1', 'backend-2'])
  assert.notEqual(backends[0]?.port, taken)
  for (const b of backends) assert.equal((await httpGet(`${b.url}/api/health`)).headers['x-backend'], b.name)
})
