import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import { markClosingAfterError } from '../wire/index.js'

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
    // A pipelined request (its response waits behind another) gets no 100: node:http would buffer it behind
    // a head written meanwhile.
    const queued = res.socket == null
    // node:http closes after a response to an expectation it sent no 100 for (`_expect_continue`): the client
    // may send the body late, or never. Once the body is parsed whole the stream is framed past it and the
    // connection can go on, as on the own listener; a body never read (`Content-Length: 0`, or one the proxy
    // had no use for) emits no 'end', hence `complete` is checked when the head is written too.
    const pending = res as ServerResponse & { _expect_continue?: boolean }
    req.once('end', () => {
      if (!res.headersSent) pending._expect_continue = false
    })
    const writeHead = res.writeHead
    res.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
      if (req.complete) pending._expect_continue = false
      // A pipelined request answered before its body was read (a refusal): node:http closes after it, and it
      // has already parsed, and handed over, the requests behind it: they must not run (see
      // isClosingAfterError), as their answers could never be sent.
      if (queued && pending._expect_continue === true) markClosingAfterError(req.socket)
      return writeHead.apply(this, args)
    } as ServerResponse['writeHead']
    if (!queued) {
      // Each try takes a fresh iterator: 100 goes out on the first only.
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
