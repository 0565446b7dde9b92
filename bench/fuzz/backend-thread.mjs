// The fuzzer's logging backends, run in a worker thread so that they answer (health probes included) on
// their own event loop while the client side of the fuzzer is busy. node:http servers (the strict llhttp
// reading a real backend has) on 127.0.0.1 port 0; every request they see is posted to the parent: complete
// (with a SHA-1 of its body), aborted (the balancer gave up on it mid-body) or unparsable. Each answer is 200
// tagged with the request's marker (`x-fuzz-id`), framed by Content-Length or chunked in turn.
import { parentPort, workerData } from 'node:worker_threads'
import { createHash } from 'node:crypto'
import http from 'node:http'

/** Same grammar as markerIn() in generate.ts. */
const MARKER = /[?&]m=([0-9a-z]+x[0-9a-z]+S?)(?![0-9a-zA-Z])/
const { names, healthPath } = workerData
const post = (e) => parentPort.postMessage(e)

function start(name) {
  let flip = 0
  const server = http.createServer({ maxHeaderSize: 64 * 1024, requireHostHeader: false, keepAliveTimeout: 10_000 }, (req, res) => {
    const url = req.url ?? ''
    if (url === healthPath) {
      req.resume()
      res.end('ok')
      return
    }
    const marker = MARKER.exec(url)?.[1]
    const hash = createHash('sha1')
    let length = 0
    let start = ''
    let ended = false
    req.on('data', (c) => {
      hash.update(c)
      if (start.length < 40) start += c.subarray(0, 40 - start.length).toString('latin1')
      length += c.length
    })
    req.on('end', () => {
      ended = true
      post({ kind: 'complete', backend: name, method: req.method ?? '', url, marker, bodyHash: hash.digest('base64'), bodyLength: length, bodyStart: start })
      const body = `${name} ${marker ?? '-'}\n`
      res.setHeader('x-fuzz-id', marker ?? '-')
      res.setHeader('x-backend', name)
      if ((flip++ & 1) === 0) {
        res.setHeader('content-length', Buffer.byteLength(body))
        res.end(body)
      } else {
        res.write(body.slice(0, 3))
        res.end(body.slice(3))
      }
    })
    req.on('close', () => {
      if (!ended) post({ kind: 'aborted', backend: name, method: req.method ?? '', url, marker })
    })
    req.on('error', () => {})
  })
  server.on('clientError', (err, socket) => {
    // A reset or an end inside a message is the balancer giving up on a request (reported as 'aborted').
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE' && err.code !== 'HPE_INVALID_EOF_STATE') {
      post({ kind: 'parse-error', backend: name, code: err.code ?? err.message, raw: (err.rawPacket ?? Buffer.alloc(0)).subarray(0, 600).toString('latin1') })
    }
    socket.destroy()
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

const servers = await Promise.all(names.map(start))
post({ kind: 'ready', urls: servers.map((s) => `http://127.0.0.1:${s.address().port}`) })
parentPort.on('message', (m) => {
  if (m !== 'close') return
  let left = servers.length
  for (const s of servers) {
    s.close(() => {
      if (--left === 0) post({ kind: 'closed' })
    })
    s.closeAllConnections()
  }
})
