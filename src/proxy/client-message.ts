import type { Socket } from 'node:net'

/**
 * The request as the proxy reads it. `IncomingMessage` (TLS and HTTP/2 listeners, `LB_HTTP1_SERVER=node`)
 * and the balancer's own `Http1Request` both have this shape: the proxy depends on nothing more.
 */
export interface ClientRequest {
  readonly method?: string | undefined
  readonly url?: string | undefined
  readonly rawHeaders: string[]
  readonly httpVersion: string
  readonly httpVersionMajor: number
  readonly httpVersionMinor: number
  readonly socket: { readonly remoteAddress?: string | undefined }
  /** The body; a fresh iterator per try, each reading on from where the last one stopped. */
  iterator(options?: { destroyOnReturn?: boolean }): AsyncIterableIterator<unknown>
  /** Trailer fields that followed the body (HTTP/2), lower-case names; complete once the body ended. */
  readonly trailers?: Readonly<Record<string, string | string[] | undefined>> | undefined
}

/** The response as the proxy writes it (`ServerResponse` and `Http1Response` alike). */
export interface ClientResponse {
  readonly headersSent: boolean
  readonly destroyed: boolean
  readonly writableFinished: boolean
  readonly statusCode: number
  /** Bytes written and not yet taken by the kernel (absent: not known). */
  readonly writableLength?: number
  readonly socket: Socket | null
  writeHead(status: number, headers: string[]): unknown
  write(chunk: Buffer): boolean
  /** Sends the head now, before any body byte (a body that is slow to come). */
  flushHeaders?(): void
  end(body?: string): unknown
  /** Trailer fields sent after the body (HTTP/2, chunked HTTP/1.1); absent where a listener has none. */
  addTrailers?(headers: Record<string, string>): void
  destroy(): unknown
  on(event: 'close', listener: () => void): unknown
  once(event: 'close' | 'drain' | 'finish', listener: () => void): unknown
}
