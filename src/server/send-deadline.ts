import type { Server as NetServer, Socket } from 'node:net'

/** Per connection: bytes waiting unsent at the last sweep, whether a `drain` came since, and since when nothing moved. */
interface SendState {
  pending: number
  drained: boolean
  stalledSince: number
}

/**
 * The send deadline of a listener (nginx's `send_timeout`): a connection whose buffered response bytes make
 * no progress for `timeoutMs` (the client reads nothing: no write completes, no `drain`) is destroyed. Its
 * response then sees `close`, which ends the upstream request and gives back the upstream connection and
 * the circuit-breaker slot it held. A client reading slowly but steadily makes progress and is left alone.
 *
 * One sweep per listener, not a timer per socket or per write (the hot path only pays for a `drain`
 * listener, which fires under back-pressure only). Works for `node:http` and the balancer's own HTTP/1.1
 * listener alike: it watches the socket, not the response object. `event`: `connection`, or on a TLS
 * server `secureConnection`. `timeoutMs` 0 disables it.
 */
export function watchSendDeadline(server: NetServer, timeoutMs: number, event: 'connection' | 'secureConnection' = 'connection'): void {
  if (!(timeoutMs > 0)) return
  const open = new Map<Socket, SendState>()
  server.on(event, (socket: Socket) => {
    const state: SendState = { pending: 0, drained: false, stalledSince: 0 }
    open.set(socket, state)
    socket.on('drain', () => (state.drained = true))
    socket.once('close', () => open.delete(socket))
  })
  let sweeper: NodeJS.Timeout | undefined
  const sweep = (): void => {
    const now = performance.now()
    for (const [socket, state] of open) {
      const pending = socket.writableLength
      const moved = pending === 0 || pending < state.pending || state.drained
      state.pending = pending
      state.drained = false
      if (moved) {
        state.stalledSince = 0
        continue
      }
      if (state.stalledSince === 0) state.stalledSince = now
      else if (now - state.stalledSince >= timeoutMs) socket.destroy()
    }
  }
  server.on('listening', () => {
    // A stall is noticed within one sweep of the deadline (at most a second late, a quarter for short ones).
    sweeper ??= setInterval(sweep, Math.max(10, Math.min(1000, timeoutMs / 4)))
    sweeper.unref()
  })
  server.on('close', () => {
    clearInterval(sweeper)
    sweeper = undefined
  })
}
