import type { Server } from 'node:http'
import type { ProxyRuntime } from '../proxy/index.js'

/**
 * Graceful drain: stop accepting, close idle keep-alive connections, let in-flight requests finish
 * (their responses carry `Connection: close`), and after `timeoutMs` close whatever is left.
 * Resolves when every connection is closed.
 */
export function drainServer(server: Server, runtime: ProxyRuntime, timeoutMs: number): Promise<void> {
  runtime.shuttingDown = true
  return new Promise((resolve) => {
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      clearInterval(sweeper)
      server.closeAllConnections()
      resolve()
    }
    const timer = setTimeout(finish, timeoutMs)
    // Connections that finish their last response go idle; close them as they do.
    const sweeper = setInterval(() => server.closeIdleConnections(), 250)
    server.close(() => finish())
    server.closeIdleConnections()
    runtime.onIdle = () => {
      server.closeIdleConnections()
      setImmediate(() => server.closeIdleConnections())
    }
    if (runtime.inFlight === 0) runtime.onIdle()
  })
}
