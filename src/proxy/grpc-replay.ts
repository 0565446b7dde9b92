/**
 * The request body of a gRPC call, kept while it is small so that the call can be sent again when the
 * backend answers UNAVAILABLE before any response byte reached the client (gRPC clients keep such a
 * "retry buffer" for their own retries; grpc-js's per-call default is 256 KiB). Only a body the client
 * finished (a unary call, or a stream it half-closed) within the limit is replayable: a client stream
 * still open cannot be rewound, and a larger body is let go at once so it costs nothing.
 */
export class ReplayBuffer {
  private chunks: Buffer[] | undefined = []
  private bytes = 0
  private ended = false

  /** `maxBytes`: the largest body kept; past it the buffer empties and the call is no longer replayable. */
  constructor(private readonly maxBytes: number) {}

  /** A body chunk read from the client. */
  add(chunk: Buffer): void {
    if (this.chunks === undefined) return
    this.bytes += chunk.length
    if (this.bytes > this.maxBytes) this.chunks = undefined
    else this.chunks.push(chunk)
  }

  /** The client finished its body. */
  end(): void {
    this.ended = true
  }

  /** The whole body is here and can be sent again. */
  get isReplayable(): boolean {
    return this.ended && this.chunks !== undefined
  }

  /** The kept chunks, in order (empty once released or overflowed). */
  get kept(): readonly Buffer[] {
    return this.chunks ?? []
  }

  /** No retry can come any more (the response started): the memory goes. */
  release(): void {
    this.chunks = undefined
  }
}

/** Largest gRPC request body kept for a retry, bytes: room for common unary messages, bounded per call. */
export const GRPC_REPLAY_MAX_BYTES = 64 * 1024
