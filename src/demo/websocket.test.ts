import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { rawRequest } from '../../test/helpers/net.js'
import { encodeClientFrame, openRawWebSocket } from '../../test/helpers/ws.js'
import { attachWebSocketEcho, computeAcceptKey } from './websocket.js'

const closeCode = (payload: Buffer): number => payload.readUInt16BE(0)

test('websocket echo server', { timeout: 60_000 }, async (t) => {
  const server = http.createServer((_req, res) => res.end())
  const seen: Array<[string, boolean]> = []
  const ws = attachWebSocketEcho(server, '/ws', (data, isBinary) => seen.push([data.toString(), isBinary]), { maxMessageBytes: 64 * 1024 })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as AddressInfo
  t.after(() => {
    ws.destroyAll()
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })

  await t.test('computeAcceptKey matches the RFC 6455 example', () => {
    assert.equal(computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
  })

  await t.test('bad handshakes are refused', async () => {
    const head = (extra: string, path = '/ws'): string =>
      `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${extra}\r\n`
    const key = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
    assert.equal((await rawRequest(port, head('Sec-WebSocket-Version: 13\r\n'))).status, 400)
    assert.equal((await rawRequest(port, head(`${key}Sec-WebSocket-Version: 8\r\n`))).status, 426)
    assert.equal((await rawRequest(port, head(`${key}Sec-WebSocket-Version: 13\r\n`, '/other'))).status, 404)
    const ok = await rawRequest(port, head(`${key}Sec-WebSocket-Version: 13\r\n`))
    assert.equal(ok.status, 101)
    assert.match(ok.raw, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/)
  })

  await t.test('fragmented message and frames split into single bytes', async () => {
    const raw = await openRawWebSocket(port)
    t.after(() => raw.socket.destroy())
    const bytes = Buffer.concat([
      encodeClientFrame(0x1, 'hel', { fin: false }),
      encodeClientFrame(0x9, 'mid'), // a control frame may arrive between fragments
      encodeClientFrame(0x0, 'lo', { fin: false }),
      encodeClientFrame(0x0, ' world'),
    ])
    for (const byte of bytes) {
      raw.write(Buffer.from([byte]))
      await new Promise((r) => setImmediate(r))
    }
    const pong = await raw.nextFrame()
    assert.deepEqual([pong.opcode, pong.payload.toString()], [0xa, 'mid'])
    const echo = await raw.nextFrame()
    assert.deepEqual([echo.fin, echo.opcode, echo.payload.toString()], [true, 0x1, 'hello world'])
    assert.deepEqual(seen.at(-1), ['hello world', false])
  })

  await t.test('16-bit and 64-bit lengths', async () => {
    const raw = await openRawWebSocket(port)
    t.after(() => raw.socket.destroy())
    for (const size of [125, 126, 65535, 65536]) {
      const payload = Buffer.alloc(size, size & 0xff)
      raw.write(encodeClientFrame(0x2, payload))
      const frame = await raw.nextFrame()
      assert.equal(frame.opcode, 0x2)
      assert.deepEqual(frame.payload, payload)
    }
  })

  const expectClose = async (frames: Buffer, code: number): Promise<void> => {
    const raw = await openRawWebSocket(port)
    t.after(() => raw.socket.destroy())
    raw.write(frames)
    const frame = await raw.nextFrame()
    assert.equal(frame.opcode, 0x8)
    assert.equal(closeCode(frame.payload), code)
    await raw.ended
  }

  await t.test('unmasked frames close with 1002', () => expectClose(encodeClientFrame(0x1, 'x', { masked: false }), 1002))
  await t.test('continuation without a start closes with 1002', () => expectClose(encodeClientFrame(0x0, 'x'), 1002))
  await t.test('oversized control frames close with 1002', () => expectClose(encodeClientFrame(0x9, Buffer.alloc(126)), 1002))
  await t.test('invalid UTF-8 text closes with 1007', () => expectClose(encodeClientFrame(0x1, Buffer.from([0xff, 0xfe])), 1007))
  await t.test('a message over the cap closes with 1009', () => expectClose(encodeClientFrame(0x2, Buffer.alloc(64 * 1024 + 1)), 1009))
  await t.test('a fragmented message over the cap closes with 1009', () =>
    expectClose(Buffer.concat([encodeClientFrame(0x2, Buffer.alloc(40_000), { fin: false }), encodeClientFrame(0x0, Buffer.alloc(40_000))]), 1009))

  await t.test('client close is echoed and the server ends the connection', async () => {
    const raw = await openRawWebSocket(port)
    t.after(() => raw.socket.destroy())
    raw.write(encodeClientFrame(0x8, Buffer.alloc(0)))
    const frame = await raw.nextFrame()
    assert.equal(frame.opcode, 0x8)
    assert.equal(frame.payload.length, 0)
    await raw.ended
  })
})
