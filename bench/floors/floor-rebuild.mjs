// Floor probe `floor-rebuild`: the same parser and pool as floor-splice, but both heads are parsed into
// fields and rebuilt as strings (hop-by-hop fields dropped, X-Forwarded-For added), and response bodies
// are forwarded chunk by chunk from the parser (re-framed as chunked when the backend gave no length).
// The difference to floor-splice is the price of rebuilding heads instead of splicing bytes.
import { runProbe } from './common.mjs'

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection'])

runProbe('floor-rebuild', {
  requestHead(client, _raw, head) {
    let s = `${head.method} ${head.url} HTTP/1.1\r\n`
    const h = head.headers
    for (let i = 0; i < h.length; i += 2) if (!HOP.has(h[i].toLowerCase())) s += `${h[i]}: ${h[i + 1]}\r\n`
    return Buffer.from(`${s}X-Forwarded-For: ${client.socket.remoteAddress}\r\n\r\n`, 'latin1')
  },
  responseHead(client, status, message, headers) {
    let s = `HTTP/1.1 ${status} ${message}\r\n`
    let length = false
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i].toLowerCase()
      if (name === 'content-length') length = true
      if (!HOP.has(name)) s += `${headers[i]}: ${headers[i + 1]}\r\n`
    }
    client.chunked = !length && status !== 204 && status !== 304
    if (client.chunked) s += 'Transfer-Encoding: chunked\r\n'
    client.socket.write(`${s}\r\n`, 'latin1')
  },
  responseBody(client, chunk) {
    if (!client.chunked) return void client.socket.write(chunk)
    client.socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1')
    client.socket.write(chunk)
    client.socket.write('\r\n', 'latin1')
  },
  responseBytes() {},
  responseEnd(client) {
    if (client.chunked) client.socket.write('0\r\n\r\n', 'latin1')
  },
})
