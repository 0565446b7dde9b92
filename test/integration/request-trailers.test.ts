/**
 * Request trailers: an HTTP/2 client's trailer fields (sent after its body) reach an HTTP/2 backend
 * (`protocol: h2c`), through the h2c listener, with the body intact.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import { startProxy } from '../helpers/in-process.js'

test('an HTTP/2 client\'s request trailers reach an h2c backend', async (t) => {
  // The backend answers with what it received: body length and the trailers, as JSON.
  const backend = http2.createServer()
  backend.on('stream', (stream) => {
    let bytes = 0
    let trailers: http2.IncomingHttpHeaders = {}
    stream.on('data', (c: Buffer) => (bytes += c.length))
    stream.on('trailers', (h) => (trailers = h))
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/json' })
      stream.end(JSON.stringify({ bytes, trailers }))
    })
  })
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve))
  const lb = await startProxy({
    workers: 1,
    listen: { h2c: true },
    pools: { main: { protocol: 'h2c', backends: [{ url: `http://127.0.0.1:${(backend.address() as { port: number }).port}` }], healthCheck: { enabled: false }, retries: { attempts: 1 } } },
  })
  const session = http2.connect(lb.url)
  t.after(async () => {
    session.close()
    await lb.close()
    await new Promise<void>((resolve) => backend.close(() => resolve()))
  })

  const send = (withTrailers: boolean): Promise<{ status: number; body: { bytes: number; trailers: Record<string, string> } }> =>
    new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/upload', 'content-type': 'application/octet-stream' }, { waitForTrailers: withTrailers })
      if (withTrailers) stream.once('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc123', 'grpc-status-details-bin': 'AAAA' }))
      let status = 0
      const chunks: Buffer[] = []
      stream.on('response', (h) => (status = Number(h[':status'])))
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => resolve({ status, body: JSON.parse(Buffer.concat(chunks).toString()) as { bytes: number; trailers: Record<string, string> } }))
      stream.on('error', reject)
      stream.write(Buffer.alloc(40_000, 1))
      stream.end(Buffer.alloc(1000, 2))
    })

  const withTrailers = await send(true)
  assert.equal(withTrailers.status, 200)
  assert.equal(withTrailers.body.bytes, 41_000)
  assert.equal(withTrailers.body.trailers['x-checksum'], 'abc123')
  assert.equal(withTrailers.body.trailers['grpc-status-details-bin'], 'AAAA')

  // No trailers: the body still ends cleanly (no empty trailer block confuses the backend).
  const without = await send(false)
  assert.equal(without.status, 200)
  assert.equal(without.body.bytes, 41_000)
  assert.deepEqual(without.body.trailers, {})
})
