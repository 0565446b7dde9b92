/**
 * Logging backends of the fuzzer: node:http servers (the strict llhttp reading a real backend would have) that
 * report every request they see — complete, aborted (the balancer gave up on it mid-body) or unparsable —
 * and answer 200 tagged with the request's marker (`x-fuzz-id`), with a body framed by Content-Length or
 * chunked at random, so the client can check it got the answer to its own request.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { markerIn } from './generate.js'

/** What a backend saw. */
export type BackendEvent =
  | { kind: 'complete'; backend: string; method: string; url: string; body: Buffer; marker: string | undefined }
  | { kind: 'aborted'; backend: string; method: string; url: string; marker: string | undefined }
  | { kind: 'parse-error'; backend: string; code: string; raw: string }

/** A running logging backend. */
export interface LoggingBackend {
  readonly name: string
  readonly url: string
  close(): Promise<void>
}

/** Path of the active health checks: answered, never reported. */
export const HEALTH_PATH = '/__fuzz_health'

/** Starts one logging backend on 127.0.0.1 (port 0); `onEvent` is called synchronously for each request. */
export async function startLoggingBackend(name: string, onEvent: (e: BackendEvent) => void): Promise<LoggingBackend> {
  let flip = 0
  const server = http.createServer({ maxHeaderSize: 64 * 1024, requireHostHeader: false, keepAliveTimeout: 10_000 }, (req, res) => {
    const url = req.url ?? ''
    if (url === HEALTH_PATH) {
      req.resume()
      res.end('ok')
      return
    }
    const marker = markerIn(url)
    const chunks: Buffer[] = []
    let ended = false
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      ended = true
      onEvent({ kind: 'complete', backend: name, method: req.method ?? '', url, body: Buffer.concat(chunks), marker })
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
      if (!ended) onEvent({ kind: 'aborted', backend: name, method: req.method ?? '', url, marker })
    })
    req.on('error', () => {})
  })
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => {
    // A reset or an end inside a message is the balancer giving up on a request (reported as 'aborted').
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE' && err.code !== 'HPE_INVALID_EOF_STATE') {
      onEvent({ kind: 'parse-error', backend: name, code: err.code ?? err.message, raw: (err.rawPacket ?? Buffer.alloc(0)).subarray(0, 600).toString('latin1') })
    }
    socket.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}
