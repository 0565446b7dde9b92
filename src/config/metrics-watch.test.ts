import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile, rename, symlink, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig, redactConfig, watchConfigFile } from './index.js'

const POOLS = { pools: { api: { backends: [{ url: 'http://127.0.0.1:3001' }] } } }

async function problems(options: Parameters<typeof loadConfig>[0]): Promise<string[]> {
  try {
    await loadConfig(options)
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    return err.problems
  }
  return []
}

test('metrics: off by default; host defaults to loopback; env METRICS_PORT/METRICS_HOST override the file', async () => {
  assert.equal((await loadConfig({ inline: POOLS, env: {} })).metrics, undefined)
  assert.deepEqual((await loadConfig({ inline: { ...POOLS, metrics: { port: 9100 } }, env: {} })).metrics, { host: '127.0.0.1', port: 9100 })
  assert.deepEqual((await loadConfig({ inline: POOLS, env: { METRICS_PORT: '9200' } })).metrics, { host: '127.0.0.1', port: 9200 })
  assert.deepEqual(
    (await loadConfig({ inline: { ...POOLS, metrics: { port: 9100 } }, env: { METRICS_HOST: '0.0.0.0' } })).metrics,
    { host: '0.0.0.0', port: 9100 },
  )
})

test('metrics: bad values name the field or the variable', async () => {
  assert.deepEqual(await problems({ inline: POOLS, env: { METRICS_PORT: 'x' } }), ['env METRICS_PORT: expected an integer 1-65535, got "x"'])
  assert.deepEqual(await problems({ inline: POOLS, env: { METRICS_HOST: '0.0.0.0' } }), ['env METRICS_HOST: expected METRICS_PORT (or metrics.port in the file) as well'])
  const missingPort = await problems({ inline: { ...POOLS, metrics: { host: '0.0.0.0' } }, env: {} })
  assert.equal(missingPort.length, 1)
  assert.match(missingPort[0] ?? '', /^inline: metrics\.port: /)
  const clash = await problems({ inline: { ...POOLS, metrics: { port: 9901 } }, env: {} })
  assert.deepEqual(clash, ['inline: metrics.port: expected a port other than the listener\'s, the TLS listener\'s and the admin server\'s, got 9901'])
  const unknown = await problems({ inline: { ...POOLS, metrics: { port: 9100, path: '/m' } }, env: {} })
  assert.match(unknown[0] ?? '', /^inline: metrics\.path: unknown key/)
})

test('watchConfig: false by default, true when set', async () => {
  assert.equal((await loadConfig({ inline: POOLS, env: {} })).watchConfig, false)
  assert.equal((await loadConfig({ inline: { ...POOLS, watchConfig: true }, env: {} })).watchConfig, true)
  assert.match((await problems({ inline: { ...POOLS, watchConfig: 'yes' }, env: {} }))[0] ?? '', /^inline: watchConfig: /)
})

test('redactConfig hides the token, Redis credentials and credential headers; the input is untouched', async () => {
  const config = await loadConfig({
    inline: {
      ...POOLS,
      admin: { token: 'tok' },
      state: { redis: { url: 'redis://:pw@127.0.0.1:6379' } },
      routes: [{ match: { pathPrefix: '/' }, pool: 'api', requestHeaders: { set: { 'x-api-key': 'k', 'x-team': 'blue' } } }],
    },
    env: {},
  })
  const r = redactConfig(config)
  assert.equal(r.admin.token, '<redacted>')
  assert.equal(r.state.kind === 'redis' ? r.state.url : '', 'redis://:***@127.0.0.1:6379')
  assert.deepEqual(r.routes[0]?.requestHeaders.set, { 'x-api-key': '<redacted>', 'x-team': 'blue' })
  assert.equal(config.admin.token, 'tok')
  // A secret-named field anywhere is hidden, whatever option it belongs to.
  const extra = redactConfig({ ...config, pools: { api: { ...config.pools.api, stickySecret: 's3', nested: { apiPassword: 'p' } } } } as never) as unknown as {
    pools: { api: { stickySecret: string; nested: { apiPassword: string } } }
  }
  assert.equal(extra.pools.api.stickySecret, '<redacted>')
  assert.equal(extra.pools.api.nested.apiPassword, '<redacted>')
})

test('watchConfigFile: a ..data symlink flip is one change; an unchanged file is none', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-watch-unit-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, '..v1'))
  await writeFile(join(dir, '..v1', 'c.yaml'), 'one')
  await symlink('..v1', join(dir, '..data'))
  await symlink('..data/c.yaml', join(dir, 'c.yaml'))
  let changes = 0
  const watch = watchConfigFile(join(dir, 'c.yaml'), () => void changes++, { debounceMs: 50, pollIntervalMs: 200 })
  t.after(() => watch.close())
  const until = async (n: number): Promise<void> => {
    const deadline = Date.now() + 5000
    while (changes < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.equal(changes, n)
  }
  await new Promise((r) => setTimeout(r, 100))
  await mkdir(join(dir, '..v2'))
  await writeFile(join(dir, '..v2', 'c.yaml'), 'two')
  await symlink('..v2', join(dir, '..tmp'))
  await rename(join(dir, '..tmp'), join(dir, '..data'))
  await until(1)
  // Nothing else changes: no further calls (the poll compares the stamp).
  await new Promise((r) => setTimeout(r, 500))
  assert.equal(changes, 1)
})
