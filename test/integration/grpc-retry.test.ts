/**
 * gRPC retry semantics through the balancer, with `@grpc/grpc-js` as client and backends: a call is
 * retried on another endpoint only on UNAVAILABLE before any response byte reached the client (refused
 * connection, stream reset before response headers, trailers-only `grpc-status: 14`), with its request
 * body replayed; never on other statuses, never once the response started.
 */
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import * as grpc from '@grpc/grpc-js'
import { getFreePort } from '../helpers/index.js'
import { EchoClient, echoService, methods, startGrpcBackend, unary } from '../helpers/grpc.js'
import { startProxy, type InProcessProxy } from '../helpers/in-process.js'

/** A gRPC backend whose Unary method always fails with `code` (a trailers-only response). */
async function startFailingBackend(code: grpc.status): Promise<{ url: string; calls: number; close(): void }> {
  const server = new grpc.Server()
  const state = { url: '', calls: 0, close: () => server.forceShutdown() }
  server.addService({ Unary: echoService.Unary }, {
    Unary: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      state.calls++
      cb({ code, details: `failing with ${code}` })
    },
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)))
  })
  state.url = `http://127.0.0.1:${port}`
  return state
}

/** An h2c backend that reads each request whole and then resets its stream, never answering. */
async function startResettingBackend(): Promise<{ url: string; streams: number; close(): void }> {
  const server = http2.createServer()
  const state = { url: '', streams: 0, close: () => server.close() }
  server.on('stream', (stream) => {
    state.streams++
    stream.on('error', () => undefined)
    stream.resume()
    stream.on('end', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR))
  })
  server.on('session', (s) => s.on('error', () => undefined))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return state
}

describe('gRPC retries follow gRPC semantics', () => {
  const started: { close(): unknown }[] = []
  after(async () => {
    for (const s of started.reverse()) await s.close()
  })
  async function proxy(urls: readonly string[], retries: Record<string, unknown> = {}): Promise<InProcessProxy> {
    const lb = await startProxy({
      workers: 1,
      listen: { h2c: true },
      pools: {
        grpc: {
          protocol: 'h2c',
          algorithm: 'round-robin',
          backends: urls.map((url) => ({ url })),
          healthCheck: { enabled: false },
          outlierDetection: { enabled: false },
          retries: { attempts: 2, ...retries },
        },
      },
    })
    started.push(lb)
    return lb
  }
  function client(lb: InProcessProxy): grpc.Client {
    const c = new EchoClient(`127.0.0.1:${lb.port}`, grpc.credentials.createInsecure())
    started.push({ close: () => c.close() })
    return c
  }
  async function settle(c: grpc.Client, n: number): Promise<{ ok: string[]; codes: number[] }> {
    const ok: string[] = []
    const codes: number[] = []
    for (let i = 0; i < n; i++) {
      await unary(c, `m${i}`).then((r) => ok.push(r), (e: grpc.ServiceError) => codes.push(e.code))
    }
    return { ok, codes }
  }

  test('one backend refusing connections: every call succeeds on the other', async () => {
    const good = await startGrpcBackend('ok')
    started.push(good)
    const dead = await getFreePort() // nothing listens: connections are refused
    const lb = await proxy([`http://127.0.0.1:${dead}`, good.url])
    const { ok, codes } = await settle(client(lb), 6)
    assert.deepEqual(codes, [])
    assert.deepEqual(ok, ['ok:m0', 'ok:m1', 'ok:m2', 'ok:m3', 'ok:m4', 'ok:m5'])
  })

  test('stream reset before response headers: the call (body replayed) succeeds on the other backend', async () => {
    const good = await startGrpcBackend('ok')
    const resetting = await startResettingBackend()
    started.push(good, resetting)
    const lb = await proxy([resetting.url, good.url])
    const { ok, codes } = await settle(client(lb), 6)
    assert.deepEqual(codes, [])
    assert.deepEqual(ok, ['ok:m0', 'ok:m1', 'ok:m2', 'ok:m3', 'ok:m4', 'ok:m5'], 'the replayed body reached the second backend intact')
    assert.ok(resetting.streams >= 1, 'the resetting backend was tried')
  })

  test('trailers-only UNAVAILABLE (grpc-status 14): retried on the other backend', async () => {
    const good = await startGrpcBackend('ok')
    const unavailable = await startFailingBackend(grpc.status.UNAVAILABLE)
    started.push(good, unavailable)
    const lb = await proxy([unavailable.url, good.url])
    const { ok, codes } = await settle(client(lb), 6)
    assert.deepEqual(codes, [])
    assert.equal(ok.length, 6)
    assert.equal(good.calls, 6)
    assert.ok(unavailable.calls >= 1, 'the unavailable backend was tried')
  })

  test('any other status (INTERNAL) is final: never retried', async () => {
    const good = await startGrpcBackend('ok')
    const internal = await startFailingBackend(grpc.status.INTERNAL)
    started.push(good, internal)
    const lb = await proxy([internal.url, good.url], { attempts: 3 })
    const { ok, codes } = await settle(client(lb), 6)
    assert.ok(internal.calls >= 1)
    assert.deepEqual(codes, new Array<number>(internal.calls).fill(grpc.status.INTERNAL))
    assert.equal(ok.length, good.calls)
    assert.equal(internal.calls + good.calls, 6, 'one backend call per client call: no retry')
  })

  test('backend dies mid-stream: the client gets UNAVAILABLE and the call is not retried', async () => {
    const a = await startGrpcBackend('a', { stallServerStream: true })
    const b = await startGrpcBackend('b', { stallServerStream: true })
    started.push(a, b)
    const lb = await proxy([a.url, b.url], { attempts: 3 })
    const received: string[] = []
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = methods(client(lb)).ServerStream(Buffer.from('100'))
      call.on('data', (msg: Buffer) => {
        received.push(msg.toString())
        if (received.length === 50) void (a.calls > 0 ? a : b).close()
      })
      call.on('status', resolve)
      call.on('error', () => undefined)
    })
    assert.equal(status.code, grpc.status.UNAVAILABLE)
    assert.equal(received.length, 50)
    assert.equal(a.calls + b.calls, 1, 'no second backend call after response bytes went out')
  })
})
