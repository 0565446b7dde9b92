/**
 * The fast path copies each response body packet into one buffer it lends to the client's response and
 * reuses for the next body once the client's socket took every byte. A client that stops reading leaves a
 * write half done, holding a reference to that memory: if the balancer reused it for other responses, the
 * slow client would get their bytes in the middle of its own body. Here a client stops reading a 48 MiB
 * body (more than the kernel buffers on both sides hold) while another client fetches 300 bodies of another
 * byte through the same worker; then the first reads on, and every byte it gets must be its own. Run with
 * both HTTP/1.1 listeners (the balancer's own and node:http's, which holds writes until the next tick).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { httpRequest } from '../helpers/index.js'
import { startAdminBalancer } from '../helpers/admin.js'

const BIG = 48 * 1024 * 1024
const PIECE = 64 * 1024
const SMALL = 40 * 1024

/** `/big`: BIG bytes of `a` written in 64 KiB pieces with a Content-Length; `/small`: SMALL bytes of `b`. */
async function startBackend(): Promise<{ server: Server; url: string }> {
  const piece = Buffer.alloc(PIECE, 'a')
  const small = Buffer.alloc(SMALL, 'b')
  const server = createServer((req, res) => {
    req.resume()
    if (req.url === '/small') {
      res.writeHead(200, { 'content-length': String(SMALL) })
      res.end(small)
      return
    }
    res.writeHead(200, { 'content-length': String(BIG) })
    let sent = 0
    const more = (): void => {
      while (sent < BIG) {
        sent += PIECE
        if (!res.write(piece)) return void res.once('drain', more)
      }
      res.end()
    }
    more()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

for (const listener of ['own', 'node'] as const) {
  test(`fast path, ${listener} listener: a client that stops reading keeps its own bytes while other responses pass`, { timeout: 120_000 }, async (t) => {
    const backend = await startBackend()
    t.after(() => backend.server.close())
    const env: Record<string, string> = { LB_FAST_PATH: 'on' }
    if (listener === 'node') env.LB_HTTP1_SERVER = 'node'
    const lb = await startAdminBalancer(
      { listen: { host: '127.0.0.1' }, workers: 1, pools: { p: { backends: [{ url: backend.url }], healthCheck: { enabled: false } } } },
      { env },
    )
    t.after(() => lb.stop('SIGKILL'))

    // The slow client: asks for the big body and reads nothing until the others are done.
    const slow = connect({ host: '127.0.0.1', port: lb.port })
    t.after(() => slow.destroy())
    await new Promise<void>((resolve) => slow.once('connect', resolve))
    slow.pause()
    slow.write('GET /big HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')
    // Long enough for the balancer to fill both kernel buffers and leave a write half done.
    await new Promise((resolve) => setTimeout(resolve, 1500))

    const url = `http://127.0.0.1:${lb.port}/small`
    for (let round = 0; round < 30; round++) {
      const results = await Promise.all(Array.from({ length: 10 }, () => httpRequest(url)))
      for (const r of results) {
        assert.equal(r.status, 200)
        assert.equal(r.body.length, SMALL)
      }
    }

    // Now read everything: the head, then BIG bytes, all `a`.
    const received = await new Promise<{ bytes: number; foreign: number; head: string }>((resolve, reject) => {
      let head = ''
      let headDone = false
      let bytes = 0
      let foreign = 0
      slow.on('data', (data: Buffer) => {
        let from = 0
        if (!headDone) {
          head += data.toString('latin1')
          const end = head.indexOf('\r\n\r\n')
          if (end < 0) return
          headDone = true
          from = data.length - (head.length - end - 4)
          head = head.slice(0, end)
        }
        for (let i = from; i < data.length; i++) if (data[i] !== 0x61) foreign++
        bytes += data.length - from
      })
      slow.on('end', () => resolve({ bytes, foreign, head }))
      slow.on('error', reject)
      slow.resume()
    })
    assert.match(received.head, /^HTTP\/1\.1 200 /)
    assert.equal(received.bytes, BIG)
    assert.equal(received.foreign, 0, 'bytes of other responses inside the slow client\'s body')
  })
}
