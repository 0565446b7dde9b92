import type { Socket } from 'node:net'
import { codedError } from './errors.js'
import type { RequestHead } from './request-head.js'

/**
 * Writes a request with no body, or with one given whole (string or bytes), framed as undici frames it
 * (client-h1.js `writeH1`): `content-length: 0` only for methods whose semantics expect a body.
 */
export function writeWhole(socket: Socket, r: RequestHead, body: string | Uint8Array | null | undefined): void {
  if (body === null || body === undefined || body === '') {
    socket.write(`${r.head}${r.expectsPayload ? 'content-length: 0\r\n' : ''}\r\n`, 'latin1')
    return
  }
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  socket.cork()
  socket.write(`${r.head}content-length: ${bytes.byteLength}\r\n\r\n`, 'latin1')
  socket.write(bytes)
  socket.uncork()
}

/** What {@link streamBody} reports to its connection. */
export interface BodyHooks {
  /** The exchange ended (response complete, failure): stop writing. */
  isDone(): boolean
  /** The whole request went out. */
  sent(): void
  /** The body failed (client gone, size limit, length mismatch). */
  failed(err: Error): void
}

/**
 * Streams a body pulled from the client as the socket drains. As undici does, the head goes out with the
 * first body bytes: `content-length` when the client declared one, else chunked framing. A body that ends
 * short of (or runs past) its declared length is never completed upstream: the backend would run a
 * request the client did not send (an empty POST in place of one with a body).
 */
export async function streamBody(socket: Socket, r: RequestHead, body: AsyncIterable<Buffer>, hooks: BodyHooks): Promise<void> {
  const length = r.contentLength === 0 && !r.expectsPayload ? null : r.contentLength
  // Pulled by hand, not with for-await: leaving a for-await calls `return()` on the body, which would
  // end it for a retry that reads on from the same client request.
  const iterator = body[Symbol.asyncIterator]()
  let written = 0
  try {
    for (;;) {
      const next = await iterator.next()
      if (hooks.isDone() || socket.destroyed) return
      if (next.done === true) break
      const chunk = next.value
      if (chunk.length === 0) continue
      if (length !== null && written + chunk.length > length) throw codedError('request body longer than its content-length', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH')
      socket.cork()
      if (written === 0) socket.write(length === null ? `${r.head}transfer-encoding: chunked\r\n` : `${r.head}content-length: ${length}\r\n\r\n`, 'latin1')
      if (length === null) socket.write(`\r\n${chunk.length.toString(16)}\r\n`, 'latin1')
      const ok = socket.write(chunk)
      socket.uncork()
      written += chunk.length
      if (!ok) await drained(socket)
    }
    if (hooks.isDone() || socket.destroyed) return
    if (length !== null && written !== length) throw codedError('request body shorter than its content-length', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH')
    if (written === 0) socket.write(`${r.head}${r.expectsPayload ? 'content-length: 0\r\n' : ''}\r\n`, 'latin1')
    else if (length === null) socket.write('\r\n0\r\n\r\n', 'latin1')
    hooks.sent()
  } catch (err) {
    hooks.failed(err as Error)
  }
}

export function isBytes(body: unknown): body is Uint8Array {
  return body instanceof Uint8Array
}

function drained(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    const go = (): void => {
      socket.off('drain', go)
      socket.off('close', go)
      resolve()
    }
    socket.on('drain', go)
    socket.on('close', go)
  })
}
