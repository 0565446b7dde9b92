/**
 * The balancer as users run it: `lb demo`, seed mode with `npm start`, graceful drain on SIGTERM,
 * and a worker killed with SIGKILL being replaced. Real process trees, real sockets.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestBackend, httpGet, waitFor, type TestBackend } from '../helpers/index.js'
import { CLI, childrenOf, freePort, startBalancerProcess } from '../helpers/balancer-process.js'

async function backends(t: { after: (fn: () => Promise<void>) => void }, n: number): Promise<TestBackend[]> {
  const list = await Promise.all(Array.from({ length: n }, (_, i) => startTestBackend({ name: `b${i + 1}` })))
  t.after(async () => {
    await Promise.all(list.map((b) => b.close()))
  })
  return list
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const v of values) out[v] = (out[v] ?? 0) + 1
  return out
}

test('lb demo: 300 GETs to /api/test are answered 100/100/100 by the three sample backends', async (t) => {
  const port = await freePort()
  const child = spawn(process.execPath, [CLI, 'demo', '--port', String(port), '--workers', '2'], {
    env: { ...process.env, ADMIN_PORT: String(await freePort()) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  await waitFor(() => out.includes('Ctrl-C stops everything'), { timeoutMs: 20_000, message: "demo did not print its URLs" })
  assert.match(out, new RegExp(`http://localhost:${port}`))
  const seen: string[] = []
  for (let i = 0; i < 300; i++) {
    const res = await httpGet(`http://127.0.0.1:${port}/api/test`)
    assert.equal(res.status, 200)
    seen.push(String(res.headers['x-backend']))
  }
  assert.deepEqual(Object.values(countBy(seen)).sort(), [100, 100, 100], JSON.stringify(countBy(seen)))
  child.kill('SIGINT')
  assert.equal(await exited, 0, out)
})

test('seed mode: config/backends.json + PORT + WORKER_COUNT=2, `npm start` balances across those backends', async (t) => {
  const [a, b] = await backends(t, 2)
  const dir = mkdtempSync(join(tmpdir(), 'lb-seed-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'config'))
  writeFileSync(
    join(dir, 'config', 'backends.json'),
    JSON.stringify({ backends: [{ host: '127.0.0.1', port: a?.port }, { host: '127.0.0.1', port: b?.port }] }),
  )
  const lb = await startBalancerProcess({ cwd: dir, env: { WORKER_COUNT: '2' } })
  t.after(() => lb.stop())
  assert.match(lb.output(), /2 worker/)
  const seen: string[] = []
  for (let i = 0; i < 40; i++) seen.push(String((await httpGet(`http://127.0.0.1:${lb.port}/`)).headers['x-backend']))
  assert.deepEqual(countBy(seen), { b1: 20, b2: 20 })
  assert.equal(await lb.stop('SIGTERM'), 0)
})

test('SIGTERM during 200 in-flight /delay requests: all 200 complete with 200, then exit 0', async (t) => {
  const [slow] = await backends(t, 1)
  slow?.setScript([{ status: 200, delayMs: 500 }])
  const lb = await startBalancerProcess({
    config: { listen: { host: '127.0.0.1' }, workers: 2, pools: { p: { backends: [{ url: slow?.url }], healthCheck: { enabled: false } } } },
  })
  t.after(() => lb.stop('SIGKILL'))
  const agent = new Agent({ keepAlive: true, maxSockets: 200 })
  t.after(() => agent.destroy())
  const requests = Array.from({ length: 200 }, () => httpGet(`http://127.0.0.1:${lb.port}/delay`, {}, { agent, timeoutMs: 20_000 }))
  await waitFor(() => (slow?.count() ?? 0) >= 200, { timeoutMs: 15_000, message: "backend did not see 200 requests" })
  lb.child.kill('SIGTERM')
  const results = await Promise.all(requests)
  assert.deepEqual(countBy(results.map((r) => String(r.status))), { '200': 200 })
  // The last response on each keep-alive connection tells the client to close it.
  assert.ok(results.some((r) => r.headers.connection === 'close'))
  assert.equal(await lb.exited, 0, lb.output())
})

test('a worker killed with SIGKILL is replaced and the balancer keeps serving', async (t) => {
  const [a] = await backends(t, 1)
  const lb = await startBalancerProcess({
    config: { listen: { host: '127.0.0.1' }, workers: 2, pools: { p: { backends: [{ url: a?.url }], healthCheck: { enabled: false } } } },
  })
  t.after(() => lb.stop('SIGKILL'))
  const before = await waitFor(() => (childrenOf(lb.pid).length === 2 ? childrenOf(lb.pid) : undefined), { timeoutMs: 10_000 })
  const victim = before[0] as number
  process.kill(victim, 'SIGKILL')
  const after = await waitFor(
    () => {
      const now = childrenOf(lb.pid)
      return now.length === 2 && !now.includes(victim) ? now : undefined
    },
    { timeoutMs: 15_000, message: "the killed worker was not replaced" },
  )
  assert.equal(after.length, 2)
  for (let i = 0; i < 20; i++) assert.equal((await httpGet(`http://127.0.0.1:${lb.port}/`)).status, 200)
  assert.equal(await lb.stop('SIGTERM'), 0)
})
