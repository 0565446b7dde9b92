// The floor for any Node.js proxy on this machine: a bare undici round-robin proxy with 2 node:cluster
// workers, no routing, no health, no metrics, no header rules. The benchmark measures it beside the
// balancer so the cost of the balancer's features is visible apart from the cost of Node itself.
//   node bench/bare-proxy.mjs --port P --backends http://127.0.0.1:A,http://127.0.0.1:B
import http from 'node:http'
import cluster from 'node:cluster'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'

const { values } = parseArgs({ options: { port: { type: 'string' }, backends: { type: 'string' }, workers: { type: 'string', default: '2' } } })
if (cluster.isPrimary) {
  for (let i = 0; i < Number(values.workers); i++) cluster.fork()
  let ready = 0
  cluster.on('listening', () => {
    if (++ready === Number(values.workers)) console.log(`bare: listening on ${values.port}`)
  })
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill()
    process.exit(0)
  })
} else {
  // Exit through process.exit so that `--cpu-prof` writes the worker's profile.
  process.on('SIGTERM', () => process.exit(0))
  const pools = String(values.backends).split(',').map((u) => new Pool(u, { connections: 256, pipelining: 1, keepAliveTimeout: 4000 }))
  let next = 0
  http
    .createServer({ noDelay: true }, (req, res) => {
      const pool = pools[next++ % pools.length]
      let resume
      pool.dispatch(
        { path: req.url, method: req.method, headers: req.rawHeaders, body: null },
        {
          onConnect() {},
          onHeaders(status, raw, resumeFn) {
            resume = resumeFn
            const headers = []
            for (let i = 0; i < raw.length; i += 2) {
              const name = raw[i].toString('latin1')
              const lower = name.toLowerCase()
              if (lower !== 'connection' && lower !== 'keep-alive') headers.push(name, raw[i + 1].toString('latin1'))
            }
            res.writeHead(status, headers)
            return true
          },
          onData(chunk) {
            if (res.write(chunk)) return true
            res.once('drain', () => resume())
            return false
          },
          onComplete() {
            res.end()
          },
          onError() {
            if (!res.headersSent) res.writeHead(502)
            res.end()
          },
        },
      )
    })
    .listen(Number(values.port), '127.0.0.1')
}
