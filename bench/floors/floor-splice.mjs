// Floor probe `floor-splice`: forwards the client's validated head bytes with one header spliced in
// (X-Forwarded-For before the blank line), and the backend's response bytes as they arrive (llhttp
// validates them and finds the message end). No feature at all: the least a Node proxy can cost.
// See bench/floors/common.mjs for the shared connection handling.
import { runProbe } from './common.mjs'

const CRLF = Buffer.from('\r\n')

runProbe('floor-splice', {
  requestHead(client, raw) {
    client.xff ??= Buffer.from(`X-Forwarded-For: ${client.socket.remoteAddress}\r\n`, 'latin1')
    return Buffer.concat([raw.subarray(0, raw.length - 2), client.xff, CRLF])
  },
  responseHead() {},
  responseBody() {},
  responseBytes(client, data) {
    client.socket.write(data)
  },
  responseEnd() {},
})
