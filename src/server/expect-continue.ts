import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'

/**
 * `Expect: 100-continue` on a `node:http` server, answered as the balancer's own listener does: `100 Continue`
 * goes out when the proxy first reads the body (a try was dispatched: the request was routed, allowed and
 * picked), not on arrival. A request refused before (404, 429, 413, 503) gets its final status without 100,
 * and node:http then closes the connection. Requests without the expectation pay nothing.
 */
export function deferContinue(server: HttpServer): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const iterator = req.iterator.bind(req)
    let sent = false
    // Each try takes a fresh iterator: 100 goes out on the first only.
    // A pipelined request (its response waits behind another) gets no 100: node:http would buffer it behind
    // a head written meanwhile. Without 100 node:http closes the connection after the response.
    if (res.socket != null) {
      req.iterator = ((options?: Parameters<IncomingMessage['iterator']>[0]) => {
        if (!sent) {
          sent = true
          if (!res.headersSent && !res.writableEnded) res.writeContinue()
        }
        return iterator(options)
      }) as IncomingMessage['iterator']
    }
    server.emit('request', req, res)
  })
}
