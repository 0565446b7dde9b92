import type { Server } from 'node:net'

/** Listens on `host:port`; rejects with the bind error (EADDRINUSE, EACCES, ...) instead of emitting it. */
export function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}
