/**
 * gRPC end to end with `@grpc/grpc-js` as the real client and backend: through the TLS listener (HTTP/2
 * via ALPN) and through h2c on the plain listener (`listen.h2c`), to an h2c backend pool
 * (`protocol: h2c`). Every kind of call, every message and the final status must arrive.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import http2 from 'node:http2'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as grpc from '@grpc/grpc-js'
import { getFreePort } from '../helpers/index.js'
import { EchoClient, methods, startGrpcBackend, unary, type GrpcBackend } from '../helpers/grpc.js'
import { startProxy, type InProcessProxy } from '../helpers/in-process.js'

const run = promisify(execFile)

/** A client of the balancer on one listener: `h2c` (plain port) or `tls` (TLS port, HTTP/2 via ALPN). */
function clientFor(kind: 'h2c' | 'tls', lb: InProcessProxy, tlsPort: number, ca: Buffer): grpc.Client {
  if (kind === 'h2c') return new EchoClient(`127.0.0.1:${lb.port}`, grpc.credentials.createInsecure())
  return new EchoClient(`127.0.0.1:${tlsPort}`, grpc.credentials.createSsl(ca), {
    'grpc.ssl_target_name_override': 'lb.test',
    'grpc.default_authority': 'lb.test',
  })
}

describe('gRPC through the balancer to an h2c pool', () => {
  let dir = ''
  let ca: Buffer
  let tlsPort = 0
  let backend: GrpcBackend
  let lb: InProcessProxy

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lb-grpc-'))
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=lb.test', '-addext', 'subjectAltName=DNS:lb.test', '-keyout', key, '-out', cert])
    ca = await readFile(cert)
    backend = await startGrpcBackend('g1')
    tlsPort = await getFreePort()
    lb = await startProxy({
      workers: 1,
      listen: { h2c: true },
      tls: { host: '127.0.0.1', port: tlsPort, http2: true, certificates: [{ cert, key }] },
      pools: {
        grpc: { protocol: 'h2c', backends: [{ url: backend.url }], healthCheck: { enabled: false }, retries: { attempts: 1 } },
      },
    })
  })
  after(async () => {
    await lb?.close()
    await backend?.close()
    await rm(dir, { recursive: true, force: true })
  })

  for (const kind of ['h2c', 'tls'] as const) {
    test(`${kind}: unary, server-streaming (1000), client-streaming and bidi calls complete with every message`, async (t) => {
      const client = clientFor(kind, lb, tlsPort, ca)
      t.after(() => client.close())
      const m = methods(client)

      assert.equal(await unary(client, 'hello'), 'g1:hello')

      const received: string[] = []
      const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
        const call = m.ServerStream(Buffer.from('1000'))
        call.on('data', (msg: Buffer) => received.push(msg.toString()))
        call.on('status', resolve)
        call.on('error', reject)
      })
      assert.equal(status.code, grpc.status.OK)
      assert.equal(received.length, 1000)
      assert.deepEqual(received.slice(0, 2), ['g1:0', 'g1:1'])
      assert.equal(received[999], 'g1:999')

      const counted = await new Promise<string>((resolve, reject) => {
        const call = m.ClientStream((err, res) => (err ? reject(err) : resolve((res as Buffer).toString())))
        for (let i = 0; i < 500; i++) call.write(Buffer.alloc(100, i % 256))
        call.end()
      })
      assert.equal(counted, 'g1:500:50000')

      const echoes: string[] = []
      await new Promise<void>((resolve, reject) => {
        const call = m.Bidi()
        let sent = 0
        call.on('data', (msg: Buffer) => {
          echoes.push(msg.toString())
          // Ping-pong: the next message goes only after the previous echo came back (both directions live).
          if (sent < 50) call.write(Buffer.from(String(sent++)))
          else call.end()
        })
        call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve() : reject(new Error(s.details))))
        call.on('error', reject)
        call.write(Buffer.from(String(sent++)))
      })
      assert.equal(echoes.length, 50)
      assert.equal(echoes[49], 'g1:49')
    })

    test(`${kind}: 100 concurrent calls over one client connection all succeed`, async (t) => {
      const client = clientFor(kind, lb, tlsPort, ca)
      t.after(() => client.close())
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => unary(client, `c${i}`)))
      assert.deepEqual(results, Array.from({ length: 100 }, (_, i) => `g1:c${i}`))
    })
  }
})

describe('errors the balancer produces for gRPC calls are gRPC statuses', () => {
  const started: { close(): Promise<void> }[] = []
  after(async () => {
    for (const s of started.reverse()) await s.close()
  })
  async function proxy(config: Record<string, unknown>): Promise<InProcessProxy> {
    const lb = await startProxy({ workers: 1, listen: { h2c: true }, ...config })
    started.push(lb)
    return lb
  }
  function client(lb: InProcessProxy): grpc.Client {
    const c = new EchoClient(`127.0.0.1:${lb.port}`, grpc.credentials.createInsecure())
    started.push({ close: async () => c.close() })
    return c
  }
  const pool = (url: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    protocol: 'h2c', backends: [{ url }], healthCheck: { enabled: false }, retries: { attempts: 1 }, ...extra,
  })

  test('every backend down: UNAVAILABLE at once, with a grpc-message naming the error', async () => {
    const dead = await getFreePort() // nothing listens there: connections are refused
    const lb = await proxy({ pools: { grpc: pool(`http://127.0.0.1:${dead}`) } })
    const startedAt = performance.now()
    const err = (await unary(client(lb), 'x').then(() => assert.fail('expected an error'), (e: unknown) => e)) as grpc.ServiceError
    assert.equal(err.code, grpc.status.UNAVAILABLE)
    assert.match(err.details, /could not connect to backend \(LB_ERR_CONNECT, request /)
    assert.ok(performance.now() - startedAt < 2000, 'answered without waiting for a timeout')
  })

  test('rate limited: RESOURCE_EXHAUSTED', async (t) => {
    const backend = await startGrpcBackend('r1')
    t.after(() => backend.close())
    const lb = await proxy({
      pools: { grpc: pool(backend.url) },
      routes: [{ pool: 'grpc', rateLimit: { rate: '1/m', burst: 1 } }],
    })
    const c = client(lb)
    assert.equal(await unary(c, 'a'), 'r1:a')
    const err = (await unary(c, 'b').then(() => assert.fail('expected an error'), (e: unknown) => e)) as grpc.ServiceError
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED)
  })

  test('backend too slow for the response-header timeout: DEADLINE_EXCEEDED', async (t) => {
    const backend = await startGrpcBackend('s1')
    t.after(() => backend.close())
    const lb = await proxy({ pools: { grpc: pool(backend.url, { timeouts: { headers: '300ms' } }) } })
    const md = new grpc.Metadata()
    md.set('x-sleep-ms', '3000')
    const err = (await unary(client(lb), 'z', md).then(() => assert.fail('expected an error'), (e: unknown) => e)) as grpc.ServiceError
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED)
  })

  test('grpc-timeout is the call deadline: DEADLINE_EXCEEDED from the balancer when it passes', async (t) => {
    // A backend that ignores grpc-timeout (grpc-js would enforce it itself) and answers after 3 s.
    const slow = http2.createServer((_req, res) => {
      const timer = setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/grpc' })
        res.addTrailers({ 'grpc-status': '0' })
        res.end()
      }, 3000)
      res.on('close', () => clearTimeout(timer))
    })
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
    t.after(() => new Promise<void>((resolve) => slow.close(() => resolve())))
    const lb = await proxy({ pools: { grpc: pool(`http://127.0.0.1:${(slow.address() as { port: number }).port}`) } })
    const session = http2.connect(lb.url)
    t.after(() => session.close())
    const payload = Buffer.from('late')
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, payload.length]), payload])
    const startedAt = performance.now()
    const { status, grpcStatus } = await new Promise<{ status: number; grpcStatus: unknown }>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m' })
      let status = 0
      stream.on('response', (h) => {
        status = Number(h[':status'])
        if (h['grpc-status'] !== undefined) resolve({ status, grpcStatus: h['grpc-status'] }) // trailers-only
      })
      stream.on('trailers', (h) => resolve({ status, grpcStatus: h['grpc-status'] }))
      stream.on('close', () => resolve({ status, grpcStatus: undefined }))
      stream.on('error', reject)
      stream.resume()
      stream.end(frame)
    })
    assert.equal(status, 200)
    assert.equal(grpcStatus, String(grpc.status.DEADLINE_EXCEEDED))
    const elapsed = performance.now() - startedAt
    assert.ok(elapsed < 2500, `answered at the deadline, not with the backend (${Math.round(elapsed)} ms)`)
  })

  test("a backend's own error status (trailers-only response) reaches the client", async (t) => {
    const backend = await startGrpcBackend('u1')
    t.after(() => backend.close())
    const lb = await proxy({ pools: { grpc: pool(backend.url) } })
    const c = client(lb)
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      c.makeUnaryRequest('/test.Echo/Missing', (b: Buffer) => b, (b: Buffer) => b, Buffer.from('x'), (e) => resolve(e as grpc.ServiceError))
    })
    assert.equal(err.code, grpc.status.UNIMPLEMENTED)
  })

  test('backend gone mid-stream: the client gets UNAVAILABLE, not a hang', async () => {
    const backend = await startGrpcBackend('k1', { stallServerStream: true })
    const lb = await proxy({ pools: { grpc: pool(backend.url) } })
    const received: string[] = []
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = methods(client(lb)).ServerStream(Buffer.from('1000'))
      call.on('data', (msg: Buffer) => {
        received.push(msg.toString())
        // Half the messages arrived and the backend stalls: it dies now.
        if (received.length === 500) void backend.close()
      })
      call.on('status', resolve)
      call.on('error', () => undefined) // the status carries the outcome
    })
    assert.equal(received.length, 500)
    assert.equal(status.code, grpc.status.UNAVAILABLE)
  })
})

test('drain: a gRPC stream in flight on the h2c listener finishes (GOAWAY, not a cut socket)', async (t) => {
  const backend = await startGrpcBackend('d1', { streamIntervalMs: 100 })
  t.after(() => backend.close())
  const lb = await startProxy({
    workers: 1,
    listen: { h2c: true },
    pools: { grpc: { protocol: 'h2c', backends: [{ url: backend.url }], healthCheck: { enabled: false }, retries: { attempts: 1 } } },
  })
  t.after(() => lb.close())
  const client = new EchoClient(`127.0.0.1:${lb.port}`, grpc.credentials.createInsecure())
  t.after(() => client.close())
  const received: string[] = []
  let drained: Promise<void> | undefined
  const status = await new Promise<grpc.StatusObject>((resolve) => {
    const call = methods(client).ServerStream(Buffer.from('25'))
    call.on('data', (msg: Buffer) => {
      received.push(msg.toString())
      // The stream lasts 2.5 s, longer than the drain's 1 s idle grace for HTTP/1.1 connections.
      if (received.length === 1) drained = lb.app.drain(10_000)
    })
    call.on('status', resolve)
    call.on('error', () => undefined)
  })
  await drained
  assert.equal(status.code, grpc.status.OK, status.details)
  assert.equal(received.length, 25)
})
