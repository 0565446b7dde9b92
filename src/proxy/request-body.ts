import type { ClientRequest } from './client-message.js'
import { noteRelayedBytes } from './relay-memory.js'
import type { ReplayBuffer } from './grpc-replay.js'

/** The exchange a body is read for: the client request, and the count of body bytes read so far. */
export interface BodySource {
  readonly req: ClientRequest
  bodyBytes: number
  /** A gRPC call's kept body, for a retry after UNAVAILABLE. */
  readonly replay?: ReplayBuffer | undefined
}

/**
 * The request body for one try, pulled from the client as the backend reads it (back-pressure both
 * ways). A fresh iterator per try: a try that failed before pulling a byte leaves the body intact for
 * the next one; `destroyOnReturn: false` keeps an abandoned try from destroying the client socket.
 */
export async function* bodyOf(ex: BodySource, attempt: { bodyStarted: boolean }, max: number | undefined): AsyncGenerator<Buffer> {
  const replay = ex.replay
  if (replay?.isReplayable === true) {
    // A retried gRPC call: the client already sent all of it.
    for (const chunk of replay.kept) {
      attempt.bodyStarted = true
      yield chunk
    }
    return
  }
  for await (const chunk of ex.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    ex.bodyBytes += chunk.length
    noteRelayedBytes(chunk.length)
    attempt.bodyStarted = true
    if (max !== undefined && ex.bodyBytes > max) throw new BodyTooLargeError()
    replay?.add(chunk)
    yield chunk
  }
  replay?.end()
}

/** Thrown into the upstream request when a chunked body passes the configured limit. */
export class BodyTooLargeError extends Error {
  readonly code = 'LB_ERR_BODY_TOO_LARGE'
}
