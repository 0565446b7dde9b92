/**
 * Runs one sample backend as its own process, for tests that kill and restart a backend and for
 * `docker compose`: `node dist/demo/backend-main.js --name a --port 3001 [--host 127.0.0.1]`.
 * Prints exactly one line, `listening <port>`, on stdout once ready (useful with `--port 0`), and exits 0 on
 * SIGTERM or SIGINT after closing its connections. Exits 1 when it cannot listen.
 */
import { parseArgs } from 'node:util'
import { startSampleBackend } from './sample-backend.js'

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: process.env.BACKEND_NAME ?? 'backend' },
    port: { type: 'string', default: process.env.PORT ?? '0' },
    host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    // One stdout line per request (`req METHOD URL USER-AGENT`): lets tests see what arrived, in order.
    'log-requests': { type: 'boolean', default: false },
  },
})

const port = Number(values.port)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port: expected an integer 0..65535, got ${JSON.stringify(values.port)}`)
  process.exit(1)
}

try {
  const backend = await startSampleBackend({ name: values.name, port, host: values.host })
  process.stdout.write(`listening ${backend.port}\n`)
  if (values['log-requests'] === true) {
    backend.server.on('request', (req: { method?: string; url?: string; headers: Record<string, unknown> }) => {
      process.stdout.write(`req ${req.method} ${req.url} ${String(req.headers['user-agent'] ?? '-')}\n`)
    })
  }
  const shutdown = (): void => {
    void backend.stop().then(() => process.exit(0))
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.once('SIGTERM', shutdown)
  process.once('SIGINT', shutdown)
} catch (err) {
  console.error(`backend ${values.name}: cannot listen on ${values.host}:${port}: ${(err as Error).message}`)
  process.exit(1)
}
