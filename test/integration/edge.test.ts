/**
 * Edge features end to end: per-route rate limits (local over 2 workers, global over two instances
 * sharing Redis), zero-downtime reload and worker replacement under load, a broken file on reload.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent } from 'node:http'
import { writeFileSync } from 'node:fs'
import { httpRequest, openWebSocket, startTestBackend, waitFor, type TestBackend } from '../helpers/index.js'
import { startAdminBalancer, type AdminBalancer } from '../helpers/admin.js'
import { childrenOf } from '../helpers/balancer-process.js'
import { startRedis } from '../helpers/redis.js'
import { assertRateHeld } from '../helpers/rate-bounds.js'

type T = { after: (fn: () => unknown) => void }

async function backend(t: T, name = 'b1'): Promise<TestBackend> {
  const b = await startTestBackend({ name })
  t.after(() => b.close())
  return b
}

function limitedConfig(b: TestBackend, scope: 'local' | 'global', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1' },
    workers: 2,
    log: { accessLog: false },
    pools: { p: { backends: [{ url: b.url }], healthCheck: { enabled: false } } },
    routes: [
      { name: 'limited', match: { pathPrefix: '/limited' }, pool: 'p', rateLimit: { rate: '100/s', burst: 20, key: 'ip', scope } },
      { name: 'free', match: { pathPrefix: '/' }, pool: 'p' },
    ],
    ...extra,
  }
}

/** What {@link flood} saw: statuses counted, a sample 429, and how long it really took (ms). */
interface Flood {
  statuses: Record<string, number>
  sample429?: Record<string, unknown>
  elapsedMs: number
}

/** Floods `path` (round robin over the given balancers) for `ms` with 16 keep-alive clients. */
async function flood(lbs: AdminBalancer[], path: string, ms: number): Promise<Flood> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 })
  const statuses: Record<string, number> = {}
  let sample429: Record<string, unknown> | undefined
  const started = performance.now()
  const until = started + ms
  let k = 0
  const client = async (): Promise<void> => {
    while (performance.now() < until) {
      const lb = lbs[k++ % lbs.length] as AdminBalancer
      const res = await httpRequest(`http://127.0.0.1:${lb.port}${path}`, { agent })
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
      if (res.status === 429 && sample429 === undefined) sample429 = { ...res.headers, body: res.body }
    }
  }
  await Promise.all(Array.from({ length: 16 }, client))
  const elapsedMs = performance.now() - started
  agent.destroy()
  return { statuses, sample429, elapsedMs }
}

/** The limited route's policy (see {@link limitedConfig}) against what a flood of it measured. */
function assertLimitedRouteHeld(f: Flood, label: string): void {
  const sent = Object.values(f.statuses).reduce((a, b) => a + b, 0)
  assertRateHeld({ allowed: f.statuses['200'] ?? 0, sent, elapsedMs: f.elapsedMs, ratePerSecond: 100, burst: 20 }, label)
}

test('rate limit 100/s burst 20, 2 workers: a 5 s flood gets burst + rate x elapsed 200s (counted), the rest 429 with the headers; another route is free', async (t) => {
  const b = await backend(t)
  const lb = await startAdminBalancer(limitedConfig(b, 'local'))
  t.after(() => lb.stop('SIGKILL'))
  const limited = await flood([lb], '/limited', 5000)
  const { statuses, sample429 } = limited
  assertLimitedRouteHeld(limited, `2 workers, local (${JSON.stringify(statuses)})`)
  assert.ok((statuses['429'] ?? 0) > 0)
  assert.deepEqual(Object.keys(statuses).sort(), ['200', '429'])
  assert.ok(sample429?.['retry-after'] !== undefined, 'Retry-After on 429')
  assert.match(String(sample429?.['ratelimit-policy']), /q=100/)
  assert.ok(sample429?.ratelimit !== undefined, 'RateLimit header')
  assert.match(String(sample429?.body), /LB_ERR_RATE_LIMITED/)
  const free = await flood([lb], '/free', 1000)
  assert.deepEqual(Object.keys(free.statuses), ['200'])
})

test('global rate limit over two instances sharing Redis holds the same total (burst + rate x elapsed, counted)', async (t) => {
  const r = await startRedis()
  t.after(() => r.stop())
  const b = await backend(t)
  const cfg = limitedConfig(b, 'global', { state: { redis: { url: r.url } } })
  const [a, c] = await Promise.all([startAdminBalancer(cfg), startAdminBalancer(cfg)])
  t.after(() => Promise.all([a.stop('SIGKILL'), c.stop('SIGKILL')]))
  const both = await flood([a, c], '/limited', 5000)
  assertLimitedRouteHeld(both, `over both instances (${JSON.stringify(both.statuses)})`)
  assert.deepEqual(Object.keys(both.statuses).sort(), ['200', '429'])
})

test('32 keep-alive clients while the configuration is reloaded 3 times and the workers replaced once: 0 failures; a WebSocket keeps echoing', async (t) => {
  const [b1, b2] = await Promise.all([backend(t, 'b1'), backend(t, 'b2')])
  const base = {
    listen: { host: '127.0.0.1' },
    workers: 2,
    log: { accessLog: false },
    pools: { p: { backends: [{ url: b1.url, id: 'b1' }], healthCheck: { enabled: false } } },
  }
  const lb = await startAdminBalancer(base)
  t.after(() => lb.stop('SIGKILL'))
  const file = lb.configFile
  const ws = await openWebSocket(`ws://127.0.0.1:${lb.port}/ws`)
  t.after(() => ws.close())
  const agent = new Agent({ keepAlive: true, maxSockets: 32 })
  t.after(() => agent.destroy())
  let stop = false
  const failures: string[] = []
  let served = 0
  const client = async (): Promise<void> => {
    while (!stop) {
      try {
        const res = await httpRequest(`http://127.0.0.1:${lb.port}/`, { agent })
        if (res.status === 200) served++
        else failures.push(`${res.status} ${res.body}`)
      } catch (err) {
        failures.push((err as Error).message)
      }
    }
  }
  const clients = Array.from({ length: 32 }, client)
  let echoes = 0
  const echo = async (): Promise<void> => {
    while (!stop) {
      assert.equal(await ws.echo(`ping ${echoes}`), `ping ${echoes}`)
      echoes++
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  // A failed echo stops the clients too, so the test reports it instead of looping until its timeout.
  const echoing = echo().finally(() => {
    stop = true
  })
  const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
  for (let i = 0; i < 3; i++) {
    await pause(700)
    const backends = i % 2 === 0 ? [{ url: b1.url, id: 'b1' }, { url: b2.url, id: 'b2' }] : [{ url: b2.url, id: 'b2' }]
    writeFileSync(file, JSON.stringify({ ...base, pools: { p: { ...base.pools.p, backends } } }))
    lb.child.kill('SIGHUP')
  }
  await pause(700)
  const before = childrenOf(lb.pid)
  lb.child.kill('SIGUSR2')
  // Replacements start one after the other, each once the previous is ready: wait for both, then let
  // the clients run on them for a moment.
  const replaced = (): boolean => childrenOf(lb.pid).filter((pid) => !before.includes(pid)).length === 2
  await waitFor(replaced, { timeoutMs: 15_000, message: 'SIGUSR2 did not replace both workers' }).catch(() => undefined)
  await pause(500)
  const fresh = childrenOf(lb.pid).filter((pid) => !before.includes(pid))
  stop = true
  await Promise.all([...clients, echoing])
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failures of ${served + failures.length}: ${failures.slice(0, 5).join(" | ")}`)
  assert.ok(served > 500)
  assert.ok(echoes > 20, `${echoes} echoes`)
  assert.ok(b2.count() > 0, 'the reloaded configuration was applied')
  assert.equal(fresh.length, 2, `new workers after SIGUSR2: ${fresh.join(', ')} (before: ${before.join(', ')})`)
})

test('a broken file on reload: the error names the file and path, and serving goes on unchanged', async (t) => {
  const b = await backend(t)
  const cfg = { listen: { host: '127.0.0.1' }, workers: 1, pools: { p: { backends: [{ url: b.url }], healthCheck: { enabled: false } } } }
  const lb = await startAdminBalancer(cfg)
  t.after(() => lb.stop('SIGKILL'))
  writeFileSync(lb.configFile, JSON.stringify({ ...cfg, pools: { p: { backends: [{ url: 'ftp://nope' }] } } }))
  const res = await lb.call('POST', '/api/reload')
  assert.equal(res.status, 400, res.body)
  assert.match(res.body, /lb\.config\.json/)
  assert.match(res.body, /pools\.p\.backends\[0\]\.url/)
  assert.equal((await httpRequest(`http://127.0.0.1:${lb.port}/`)).status, 200)
  const rejections = (lb.output().match(/reload rejected/g) ?? []).length
  lb.child.kill('SIGHUP')
  await waitFor(() => (lb.output().match(/reload rejected/g) ?? []).length > rejections, { timeoutMs: 10_000, message: 'SIGHUP reload not reported' })
  assert.match(lb.output(), /reload rejected[\s\S]*pools\.p\.backends\[0\]\.url/)
  assert.equal((await httpRequest(`http://127.0.0.1:${lb.port}/`)).status, 200)
})
