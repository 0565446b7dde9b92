// The HTTP listener's accept queue under node:cluster: the workers ask for 4 096 (the kernel caps it at
// net.core.somaxconn), and the primary's listening socket gets it, so a burst of thousands of connects
// is queued instead of dropped (a dropped SYN is retried by the client after 1, 3, 7 s). Read with `ss`
// (iproute2), whose Send-Q column of a listening socket is its backlog; skipped where `ss` is missing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { startTestBackend } from '../helpers/index.js'
import { startBalancerProcess } from '../helpers/balancer-process.js'

const hasSs = spawnSync('ss', ['-V']).status === 0

test('the 2-worker balancer listens with a 4 096-entry accept queue (or the kernel maximum)', { skip: hasSs ? false : 'ss (iproute2) not installed' }, async (t) => {
  const backend = await startTestBackend({ name: 'b' })
  t.after(() => backend.close())
  const lb = await startBalancerProcess({
    config: { listen: { host: '127.0.0.1' }, workers: 2, pools: { p: { backends: [{ url: backend.url }], healthCheck: { enabled: false } } } },
  })
  t.after(() => lb.stop('SIGKILL'))
  const out = spawnSync('ss', ['-ltnH', `sport = :${lb.port}`], { encoding: 'utf8' }).stdout
  const fields = out.trim().split(/\s+/)
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'))
  assert.equal(fields[0], 'LISTEN', out)
  assert.equal(Number(fields[2]), Math.min(4096, somaxconn), out)
  assert.equal(await lb.stop('SIGTERM'), 0)
})
