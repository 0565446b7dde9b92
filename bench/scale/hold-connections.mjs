#!/usr/bin/env node
// Opens N connections to 127.0.0.1:PORT, sends one request on each, reads its answer and then holds every
// socket open and idle, so the proxy's memory can be read with N live keep-alive connections (or, with --ws,
// N open WebSocket tunnels). Run as its own process by bench/scale.mjs, so its file descriptors and memory
// are not the harness's.
//
//   node bench/scale/hold-connections.mjs --port P --count N [--ws] [--parallel 200]
//
// Prints `held {"ok":N,"failed":F,"ms":T}` once every connection answered (or failed), then waits for
// SIGTERM/SIGINT, which closes every socket and exits 0. A connection the server closes later is counted
// on stdout as `lost N` (at most once a second), since a held count that shrinks would skew the reading.
import net from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    count: { type: 'string' },
    ws: { type: 'boolean', default: false },
    parallel: { type: 'string', default: '200' },
    timeout: { type: 'string', default: '20000' },
  },
  strict: true,
})
const port = Number(values.port)
const count = Number(values.count)
const parallel = Math.max(1, Number(values.parallel))
const timeoutMs = Number(values.timeout)

const REQUEST = values.ws
  ? 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
  : 'GET /2b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
// What a complete answer looks like: a 101 head, or a 200 head and its 2-byte body.
const ANSWERED = values.ws ? /^HTTP\/1\.1 101 [^]*\r\n\r\n/ : /^HTTP\/1\.1 200 [^]*\r\n\r\nok$/

const sockets = new Set()

function openOne() {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    let buf = ''
    let done = false
    const finish = (ok) => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (!ok) socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false), timeoutMs)
    socket.setNoDelay(true)
    socket.on('connect', () => socket.write(REQUEST))
    socket.on('data', (chunk) => {
      if (done) return
      buf += chunk.toString('latin1')
      if (ANSWERED.test(buf)) {
        sockets.add(socket)
        finish(true)
      }
    })
    socket.on('error', () => finish(false))
    socket.on('close', () => {
      sockets.delete(socket)
      finish(false)
    })
  })
}

async function main() {
  const t0 = Date.now()
  let next = 0
  let ok = 0
  let failed = 0
  const worker = async () => {
    while (next < count) {
      next++
      if (await openOne()) ok++
      else failed++
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker))
  process.stdout.write(`held ${JSON.stringify({ ok, failed, ms: Date.now() - t0 })}\n`)
  let reported = 0
  setInterval(() => {
    const now = count - failed - sockets.size
    if (now !== reported) {
      reported = now
      process.stdout.write(`lost ${now}\n`)
    }
  }, 1000)
}

const stop = () => {
  for (const s of sockets) s.destroy()
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
main().catch((err) => {
  process.stderr.write(`hold-connections: ${err.stack ?? err}\n`)
  process.exit(1)
})
